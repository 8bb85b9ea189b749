"""Max pooling: the U-Net's 2x2 downsampling (average pooling is in ``avg_pool.py``).

The op checks its arguments, normalises them to ``(h, w)`` pairs and hands the loops to the
selected kernel set (``tinyunet.kernels.*.pool``, where the formulas live). Signature and
defaults are PyTorch's: ``stride`` defaults to ``kernel_size`` (non-overlapping windows),
``padding`` may be at most half the kernel, so every window holds at least one real pixel,
and a (C, H, W) input is one unbatched sample.

Backward: max pooling routes each output gradient to the input pixel that won its window
(the saved argmax); the windows' geometry is not needed again.
"""

from __future__ import annotations

from .. import backend
from ..function import Function
from ..kernels.reference.pool import pool_output_size
from ..tensor import Tensor
from .pairs import batched, pair


def pool_args(op, x, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """Validate a pooling call: (x as (N, C, H, W), unbatched, k, s, p, d) with (h, w) pairs.

    The output size is ``tinyunet.kernels.reference.pool.pool_output_size``:
    ``floor`` (or ``ceil`` with ``ceil_mode``) of ``(H + 2p - d(k - 1) - 1) / s``, plus 1.
    """
    x, unbatched = batched(op, Tensor._lift(x))
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype} "
                        f"(convert with .astype(np.float32))")
    if min(x.shape[1:]) < 1:
        raise ValueError(f"{op}: only the batch dimension may be empty, got input shape "
                         f"{x.shape}")
    k = pair(op, "kernel_size", kernel_size)
    s = k if stride is None or stride == () or stride == [] else pair(op, "stride", stride)
    p, d = pair(op, "padding", padding), pair(op, "dilation", dilation)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: kernel_size {k}, stride {s} and dilation {d} must be "
                         "positive")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be non-negative and at most half of "
                         f"kernel_size {k} (PyTorch's rule: every window needs a real pixel)")
    H, W = x.shape[2:]
    out = tuple(pool_output_size(n, k[a], s[a], p[a], d[a], bool(ceil_mode))
                for a, n in enumerate((H, W)))
    if min(out) < 1:
        raise ValueError(f"{op}: kernel_size {k} with padding {p} and dilation {d} does not "
                         f"fit the input of shape {x.shape} (its padded size is "
                         f"({H + 2 * p[0]}, {W + 2 * p[1]})); the output would be {out}")
    return x, unbatched, k, s, p, d


class MaxPool2d(Function):
    """y = max over each window; dL/dx[argmax] += dL/dy (the winner takes the gradient)."""

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1),
                ceil_mode=False, indices_out=None):
        y, argmax = backend.kernels(x).max_pool2d(x, kernel_size, stride, padding, dilation,
                                                  ceil_mode)
        ctx.save_for_backward(argmax)
        ctx.input_shape = x.shape
        if indices_out is not None:  # return_indices: the argmax is a non-differentiable output
            indices_out.append(argmax)
        return y

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved_tensors
        return backend.kernels(grad).max_pool2d_backward(grad, argmax, ctx.input_shape)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over (N, C, H, W) or (C, H, W), as ``torch.nn.functional.max_pool2d``.

    Windows of ``kernel_size`` taps every ``stride`` (default: ``kernel_size``) pixels, the
    input padded with -inf by ``padding``. ``dilation`` d spaces the taps d pixels apart, so
    a window spans ``d (k - 1) + 1`` pixels. The output has
    ``floor((H + 2p - d(k - 1) - 1) / s) + 1`` rows, or with ``ceil_mode`` the ceiling
    (a last, partial window), as long as that window starts inside the input or its top
    padding. Among equal maxima the first in row-major window order wins; a NaN in a window
    propagates. With ``return_indices=True`` also returns the int64 flat indices ``h * W + w``
    of the maxima, as PyTorch does.
    """
    op = "max_pool2d"
    x, unbatched, k, s, p, d = pool_args(op, input, kernel_size, stride, padding, dilation,
                                         ceil_mode)
    indices = [] if return_indices else None
    y = MaxPool2d.apply(x, kernel_size=k, stride=s, padding=p, dilation=d,
                        ceil_mode=bool(ceil_mode), indices_out=indices)
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    return y, Tensor(indices[0][0] if unbatched else indices[0])
