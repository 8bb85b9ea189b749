"""Pooling ops: max_pool2d (the U-Net's 2x2 downsampling) and avg_pool2d.

Each op checks its arguments, normalises them to ``(h, w)`` pairs and hands the loops to the
selected kernel set (``tinyunet.kernels.*.pool``, where the formulas live). Signatures and
defaults are PyTorch's: ``stride`` defaults to ``kernel_size`` (non-overlapping windows) and
``padding`` may be at most half the kernel, so every window holds at least one real pixel.

Backward: max pooling routes each output gradient to the input pixel that won its window
(the saved argmax); average pooling spreads it evenly over the window.
"""

from __future__ import annotations

from .. import backend
from ..function import Function
from ..tensor import Tensor
from .pairs import pair


def _check(x, kernel_size, stride, padding, op):
    """Validate a pooling call; return (x as a Tensor, kernel_size, stride, padding) pairs."""
    x = Tensor._lift(x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}"
                         + (" (add a batch dimension with x[None])" if x.ndim == 3 else ""))
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype} "
                        f"(convert with .astype(np.float32))")
    k = pair(op, "kernel_size", kernel_size)
    s = k if stride is None or stride == () else pair(op, "stride", stride)
    p = pair(op, "padding", padding)
    if min(k) < 1 or min(s) < 1:
        raise ValueError(f"{op}: kernel_size {k} and stride {s} must be positive")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be non-negative and at most half of "
                         f"kernel_size {k} (PyTorch's rule: every window needs a real pixel)")
    H, W = x.shape[2:]
    H_out, W_out = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{op}: kernel_size {k} with padding {p} does not fit the input of "
                         f"shape {x.shape} (its padded size is ({H + 2 * p[0]}, "
                         f"{W + 2 * p[1]})); the output would be ({H_out}, {W_out})")
    return x, k, s, p


class MaxPool2d(Function):
    """y = max over each window; dL/dx[argmax] += dL/dy (the winner takes the gradient)."""

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), indices_out=None):
        y, argmax = backend.kernels(x).max_pool2d(x, kernel_size, stride, padding)
        ctx.save_for_backward(argmax)
        ctx.input_shape = x.shape
        if indices_out is not None:  # return_indices: the argmax is a non-differentiable output
            indices_out.append(argmax)
        return y

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved_tensors
        return backend.kernels(grad).max_pool2d_backward(grad, argmax, ctx.input_shape)


class AvgPool2d(Function):
    """y = mean over each window; dL/dx gets dL/dy / divisor from every window it sits in."""

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0),
                count_include_pad=True):
        ctx.input_shape = x.shape
        ctx.hyper = (kernel_size, stride, padding, count_include_pad)
        return backend.kernels(x).avg_pool2d(x, *ctx.hyper)

    @staticmethod
    def backward(ctx, grad):
        return backend.kernels(grad).avg_pool2d_backward(grad, ctx.input_shape, *ctx.hyper)


def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False):
    """Max pooling over (N, C, H, W), as ``torch.nn.functional.max_pool2d``.

    Windows of ``kernel_size`` every ``stride`` (default: ``kernel_size``) pixels, the input
    padded with -inf by ``padding``. Among equal maxima the first in row-major window order
    wins; a NaN in a window propagates. With ``return_indices=True`` also returns the int64
    flat indices ``h * W + w`` of the maxima, as PyTorch does.
    """
    x, k, s, p = _check(x, kernel_size, stride, padding, "max_pool2d")
    indices = [] if return_indices else None
    y = MaxPool2d.apply(x, kernel_size=k, stride=s, padding=p, indices_out=indices)
    return (y, Tensor(indices[0])) if return_indices else y


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling over (N, C, H, W), as ``torch.nn.functional.avg_pool2d``.

    With ``count_include_pad`` (the default) padding counts as zeros in the mean (divisor
    k_H k_W); without it the divisor is the number of real pixels in the window.
    """
    x, k, s, p = _check(x, kernel_size, stride, padding, "avg_pool2d")
    return AvgPool2d.apply(x, kernel_size=k, stride=s, padding=p,
                           count_include_pad=bool(count_include_pad))
