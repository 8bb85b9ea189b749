"""Average pooling: avg_pool2d (fixed windows) and adaptive_avg_pool2d (a fixed output grid).

avg_pool2d slides a k_H x k_W window every ``stride`` pixels, as max pooling does (the checks
are shared, ``pool.pool_args``), and takes the mean. adaptive_avg_pool2d is told the output
size instead and works the windows out: output (i, j) of an (H_out, W_out) grid averages rows
``floor(i H / H_out) .. ceil((i + 1) H / H_out) - 1`` and the matching columns, so the windows
tile the input, overlapping by at most a row where H_out does not divide H. It is how
``interpolate(mode="area")`` resizes, and a classifier's global average pool (output (1, 1)).

Backward: each output's gradient is spread evenly over its window, divided by the divisor,
added where windows overlap. The formulas live in ``tinyunet.kernels.*.pool``.
"""

from __future__ import annotations

from .. import backend
from ..function import Function
from ..tensor import Tensor
from .pairs import batched
from .pool import pool_args


class AvgPool2d(Function):
    """y = mean over each window; dL/dx gets dL/dy / divisor from every window it sits in."""

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        ctx.input_shape = x.shape
        ctx.hyper = (kernel_size, stride, padding, count_include_pad, divisor_override)
        return backend.kernels(x).avg_pool2d(x, kernel_size, stride, padding, ceil_mode,
                                             count_include_pad, divisor_override)

    @staticmethod
    def backward(ctx, grad):
        return backend.kernels(grad).avg_pool2d_backward(grad, ctx.input_shape, *ctx.hyper)


class AdaptiveAvgPool2d(Function):
    """y = mean over each adaptive window; dL/dx gets dL/dy / (window size) from each."""

    @staticmethod
    def forward(ctx, x, output_size=(1, 1)):
        ctx.input_shape = x.shape
        return backend.kernels(x).adaptive_avg_pool2d(x, output_size)

    @staticmethod
    def backward(ctx, grad):
        return backend.kernels(grad).adaptive_avg_pool2d_backward(grad, ctx.input_shape)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average pooling over (N, C, H, W) or (C, H, W), as ``torch.nn.functional.avg_pool2d``.

    The output size is max pooling's without dilation: ``floor((H + 2p - k) / s) + 1``, or
    the ceiling with ``ceil_mode``. The divisor of each window's sum is ``divisor_override``
    when given (any non-zero int); else, with ``count_include_pad`` (the default), the
    window's size within the padded input (padding counts as zeros: k_H k_W, less where a
    ceil_mode window hangs past the padding); without it, its number of real pixels.
    """
    op = "avg_pool2d"
    x, unbatched, k, s, p, _ = pool_args(op, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or int(divisor_override) != divisor_override \
                or divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be a non-zero int, got "
                             f"{divisor_override!r}")
        divisor_override = int(divisor_override)
    y = AvgPool2d.apply(x, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                        count_include_pad=bool(count_include_pad),
                        divisor_override=divisor_override)
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed ``output_size`` (an int, or (h, w) where None keeps that
    input size), as ``torch.nn.functional.adaptive_avg_pool2d``; see the module docstring."""
    op = "adaptive_avg_pool2d"
    x, unbatched = batched(op, Tensor._lift(input))
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(size) != 2:
        raise ValueError(f"{op}: output_size must be an int or (h, w), got {output_size!r}")
    size = tuple(x.shape[2 + a] if n is None else n for a, n in enumerate(size))
    if min(size) < 1 or min(x.shape[1:]) < 1:
        raise ValueError(f"{op}: output_size {size} and the input's (C, H, W) "
                         f"{x.shape[1:]} must be positive (input shape {x.shape})")
    y = AdaptiveAvgPool2d.apply(x, output_size=tuple(int(n) for n in size))
    return y.squeeze(0) if unbatched else y
