"""3-D max pooling: the 3-D U-Net's 2x2x2 downsampling, with PyTorch's whole signature.

The op checks its arguments, normalises them to (d, h, w) triples and hands the loops to the
selected kernel set (``tinyunet.kernels.*.pool3d``, where the formulas live). Output size per
axis (``ceil_mode`` rounds up, but never starts a window in the right padding)::

    out = floor_or_ceil((size + 2p - d(k - 1) - 1) / s) + 1

Backward: each output's gradient goes to the voxel that won its window (the saved argmax).
"""

from __future__ import annotations

from .. import backend
from ..function import Function
from ..kernels.reference.pool import pool_output_size
from ..tensor import Tensor
from .triples import triple


class MaxPool3d(Function):
    """y = max over each window; dL/dx[argmax] += dL/dy (the winner takes the gradient)."""

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0),
                dilation=(1, 1, 1), ceil_mode=False, indices_out=None):
        y, argmax = backend.kernels(x).max_pool3d(x, kernel_size, stride, padding, dilation,
                                                  ceil_mode)
        ctx.save_for_backward(argmax)
        ctx.input_shape = x.shape
        if indices_out is not None:  # return_indices: a non-differentiable second output
            indices_out.append(argmax)
        return y

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved_tensors
        return backend.kernels(grad).max_pool3d_backward(grad, argmax, ctx.input_shape)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over (N, C, D, H, W) or unbatched (C, D, H, W), as
    ``torch.nn.functional.max_pool3d``.

    Windows of ``kernel_size`` every ``stride`` (default: ``kernel_size``) voxels, reading every
    ``dilation``-th voxel, the input padded with -inf by ``padding`` (at most half the kernel).
    Among equal maxima the first in (d, h, w) order wins; a NaN propagates. With
    ``return_indices=True`` also returns the int64 flat indices ``d*H*W + h*W + w``.
    """
    op = "max_pool3d"
    x = Tensor._lift(input)
    if x.ndim not in (4, 5):
        raise ValueError(f"{op}: expected a 5-D input (N, C, D, H, W) or an unbatched 4-D one "
                         f"(C, D, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype} "
                        f"(convert with .astype(np.float32))")
    k = triple(op, "kernel_size", kernel_size, minimum=1)
    s = k if stride is None or stride == () else triple(op, "stride", stride, minimum=1)
    p = triple(op, "padding", padding, minimum=0)
    d = triple(op, "dilation", dilation, minimum=1)
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding {p} must be at most half of kernel_size {k} "
                         f"(PyTorch's rule: every window needs a real voxel)")
    size = x.shape[-3:]
    out = tuple(pool_output_size(n, *a, bool(ceil_mode)) for n, *a in zip(size, k, s, p, d))
    if min(out) < 1:
        span = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
        raise ValueError(f"{op}: kernel_size {k} with dilation {d} spans {span}, which does not "
                         f"fit the input of shape {x.shape} padded by {p}; the output would be "
                         f"{out}")
    unbatched = x.ndim == 4
    if unbatched:
        x = x.reshape(1, *x.shape)
    indices = [] if return_indices else None
    y = MaxPool3d.apply(x, kernel_size=k, stride=s, padding=p, dilation=d,
                        ceil_mode=bool(ceil_mode), indices_out=indices)
    if unbatched:
        y = y.reshape(*y.shape[1:])
        indices = [i[0] for i in indices] if return_indices else None
    return (y, Tensor(indices[0])) if return_indices else y


__all__ = ["MaxPool3d", "max_pool3d"]
