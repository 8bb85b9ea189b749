"""Reductions with PyTorch's ``dim`` / ``keepdim``: sum, mean, max.

The backward of a reduction spreads the gradient back over the reduced axes: ``sum`` copies
it to every element, ``mean`` copies it divided by the count, ``max`` sends it to the element
that won.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor


def _axes(dim, ndim):
    """PyTorch's ``dim`` (None, int or tuple, negatives allowed) as a tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    n = builtins.max(ndim, 1)
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"dim {d} is out of range for a tensor of {ndim} dimensions")
    return tuple(sorted(d % n for d in dims))


def _expand_back(grad, axes, keepdim):
    """Re-insert the reduced axes (size 1) so ``grad`` broadcasts over the input."""
    if keepdim:
        return grad
    xp = get_array_module(grad)
    return xp.expand_dims(grad, axes) if axes else grad


# BEGIN SOLUTION task=1.2 hint="spread grad back over the reduced axes (_expand_back helps)"
class Sum(Function):
    """y = sum_i x_i;  dy/dx_i = 1."""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        return xp.broadcast_to(_expand_back(grad, ctx.axes, ctx.keepdim), ctx.shape).copy()


class Mean(Function):
    """y = (1/n) sum_i x_i;  dy/dx_i = 1/n."""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.count = 1
        for a in axes:
            ctx.count *= x.shape[a]
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        g = _expand_back(grad, ctx.axes, ctx.keepdim) / ctx.count
        return xp.broadcast_to(g, ctx.shape).copy()


class Amax(Function):
    """y = max_i x_i; the gradient is shared equally among tied maxima (as torch.amax)."""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        y = x.max(axis=axes, keepdims=True)
        winners = x == y
        ctx.save_for_backward(winners)
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else y.squeeze(axis=axes)

    @staticmethod
    def backward(ctx, grad):
        (winners,) = ctx.saved_tensors
        g = _expand_back(grad, ctx.axes, ctx.keepdim)
        return g * winners / winners.sum(axis=ctx.axes, keepdims=True)


class MaxDim(Function):
    """y = max over one dim; the gradient goes to the first maximum (its index is returned)."""

    @staticmethod
    def forward(ctx, x, dim=0, keepdim=False):
        xp = get_array_module(x)
        index = xp.expand_dims(x.argmax(axis=dim), dim)
        ctx.save_for_backward(index)
        ctx.shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        y = xp.take_along_axis(x, index, axis=dim)
        return y if keepdim else y.squeeze(axis=dim)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        xp = get_array_module(grad)
        g = grad if ctx.keepdim else xp.expand_dims(grad, ctx.dim)
        out = xp.zeros(ctx.shape, dtype=grad.dtype)
        xp.put_along_axis(out, index, g, axis=ctx.dim)
        return out
# END SOLUTION


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def sum(x, dim=None, keepdim=False):  # noqa: A001  (PyTorch's name)
    return Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    return Mean.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def amax(x, dim=None, keepdim=False):
    return Amax.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def max(x, dim=None, keepdim=False):  # noqa: A001
    """``x.max()`` is the largest element; ``x.max(dim)`` is ``(values, indices)`` as torch."""
    if dim is None:
        return Amax.apply(x, axes=_axes(None, x.ndim), keepdim=False)
    (axis,) = _axes(dim, x.ndim)
    values = MaxDim.apply(x, dim=axis, keepdim=keepdim)
    return MaxResult(values, Tensor(argmax_array(x.data, axis, keepdim)))


def argmax_array(data, dim=None, keepdim=False):
    if dim is None:
        return data.argmax()
    index = data.argmax(axis=dim)
    return get_array_module(data).expand_dims(index, dim) if keepdim else index
