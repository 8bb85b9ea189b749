"""Ops that move elements without changing them: reshape, transpose, permute, indexing, cast.

Each backward puts every gradient element back where its value came from: reshape back,
transpose back, inverse permutation, scatter-add into the indexed places.
"""

from __future__ import annotations

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims=()):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return grad.transpose(inverse)


class GetItem(Function):
    """y = x[index]; dL/dx is zero except at the indexed places, where gradients add up
    (``add.at``, because an advanced index may pick the same element twice)."""

    @staticmethod
    def forward(ctx, x, index=()):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        out = xp.zeros(ctx.shape, dtype=grad.dtype)
        xp.add.at(out, ctx.index, grad)
        return out


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype=None):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


def _unpack(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def reshape(x, *shape):
    shape = _unpack(shape)
    size = x.data.size
    known = 1
    for n in shape:
        known *= n if n != -1 else 1
    if (-1 not in shape and known != size) or (-1 in shape and (known == 0 or size % known)):
        raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} ({size} elements) "
                         f"as shape {tuple(shape)}")
    return Reshape.apply(x, shape=tuple(shape))


def permute(x, *dims):
    dims = _unpack(dims)
    if sorted(d % x.ndim for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {tuple(dims)} is not a permutation of the {x.ndim} "
                         f"dimensions of a tensor of shape {x.shape}")
    return Permute.apply(x, dims=tuple(d % x.ndim for d in dims))


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, dims=tuple(dims))


def flatten(x, start_dim=0, end_dim=-1):
    start, end = start_dim % max(x.ndim, 1), end_dim % max(x.ndim, 1)
    shape = x.shape[:start] + (-1,) + x.shape[end + 1 :]
    return reshape(x, *shape)


def unsqueeze(x, dim):
    dim = dim % (x.ndim + 1)
    return reshape(x, *(x.shape[:dim] + (1,) + x.shape[dim:]))


def squeeze(x, dim=None):
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dim = dim % x.ndim
        shape = x.shape if x.shape[dim] != 1 else x.shape[:dim] + x.shape[dim + 1 :]
    return reshape(x, *shape)


def _plain_index(index):
    """Tensors inside an index are replaced by their arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    return index.data if isinstance(index, Tensor) else index


def getitem(x, index):
    return GetItem.apply(x, index=_plain_index(index))


def cast(x, dtype):
    return Cast.apply(x, dtype=dtype)
