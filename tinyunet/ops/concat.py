"""Joining and cropping: cat (the U-Net's skip connection), stack, center_crop.

In the U-Net the decoder concatenates its upsampled features with the encoder's features of
the same resolution along the channel dim: ``cat([up, skip], dim=1)``. With unpadded
('valid') convolutions the encoder's maps are larger than the decoder's, and the original
paper crops them to the centre first: ``cat([up, center_crop(skip, up.shape[2:])], dim=1)``.

Backward: concatenation only places its inputs side by side, so the gradient is split back
into the pieces; a crop's gradient is zero outside the kept window.
"""

from __future__ import annotations

import sys
from itertools import accumulate

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor
from .shape import getitem


# BEGIN SOLUTION task=3.3 hint="the backward splits grad where each input was placed"
class Cat(Function):
    """y = [x_1, x_2, ...] along ``dim``;  dL/dx_k = the slice of dL/dy where x_k was placed."""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        ends = list(accumulate(ctx.sizes))[:-1]
        return tuple(get_array_module(grad).split(grad, ends, axis=ctx.dim))


# END SOLUTION
class Stack(Function):
    """y[..., k, ...] = x_k along a new ``dim``;  dL/dx_k = dL/dy[..., k, ...]."""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        ctx.dim = dim
        return get_array_module(*xs).stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        return tuple(xp.take(grad, k, axis=ctx.dim) for k in range(grad.shape[ctx.dim]))


def _tensors(tensors, op):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)) or not tensors:
        raise TypeError(f"{op}: expected a non-empty list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    tensors = [Tensor._lift(t) for t in tensors]
    if len({t.ndim for t in tensors}) > 1:
        raise ValueError(f"{op}: all tensors must have the same number of dimensions, got "
                         f"shapes {', '.join(str(t.shape) for t in tensors)}")
    return tensors


def _dim(dim, ndim, op):
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for {ndim}-D tensors "
                         f"(expected {-ndim} <= dim < {ndim})")
    return dim % ndim


def _refuse_out(op, out):
    if out is not None:
        raise NotImplementedError(f"{op}: out= is not supported (tinyunet never writes into an "
                                  "existing tensor); use the returned tensor")


def cat(tensors, dim=0, *, out=None):
    """Concatenate along an existing ``dim`` (negative counts from the end), as ``torch.cat``.

    Every other dimension must match. The classic U-Net mismatch -- a larger encoder map
    beside a smaller decoder map -- is fixed with ``center_crop`` (or ``pad``). As in PyTorch,
    an empty 1-D tensor (shape (0,)) may sit beside tensors of any shape and is skipped.
    """
    _refuse_out("cat", out)
    if isinstance(tensors, (list, tuple)) and tensors:
        lifted = [Tensor._lift(t) for t in tensors]
        kept = [t for t in lifted if t.shape != (0,)]
        tensors = kept if kept else lifted[:1]
    tensors = _tensors(tensors, "cat")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    dim = _dim(dim, ndim, "cat")
    others = [t.shape[:dim] + t.shape[dim + 1:] for t in tensors]
    if len(set(others)) > 1:
        shapes = ", ".join(str(t.shape) for t in tensors)
        message = (f"cat: along dim {dim} every other dimension must match, but got shapes "
                   f"{shapes}")
        spatial = [d for d in range(max(ndim - 2, 0), ndim)
                   if d != dim and len({t.shape[d] for t in tensors}) > 1]
        if spatial and ndim >= 3:
            smallest = tuple(min(t.shape[d] for t in tensors) for d in (ndim - 2, ndim - 1))
            message += (f". The spatial sizes differ (as with a U-Net's unpadded 'valid' "
                        f"convs): crop the larger maps with F.center_crop(x, {smallest}), or "
                        f"pad the smaller ones with F.pad, before concatenating")
        raise ValueError(message)
    y = Cat.apply(*tensors, dim=dim)
    if y._node is not None:
        _share_storage(tensors, y, dim)
    return y


def _share_storage(tensors, y, dim):
    """Memory: point each input that only the graph keeps at its copy inside ``y``.

    The graph keeps cat's inputs until the backward reaches the cat. In a U-Net, the decoder's
    upsampled map is made for the cat alone, so its array would sit beside its own copy in
    ``y`` through the rest of the forward and most of the backward. When an input's array is
    held by its tensor alone (no backward saved it, nobody else took it), the tensor is
    pointed at its slice of ``y`` instead: the same values, and the array is freed. Arrays
    held elsewhere (the skip, which its conv saved) are left alone; tinyunet never writes into
    a tensor, so sharing is invisible.
    """
    lo = 0
    for t in tensors:
        hi = lo + t.shape[dim]
        if t._node is not None and sys.getrefcount(t.data) <= 2:  # t's slot, and the call's
            t.data = y.data[(slice(None),) * dim + (slice(lo, hi),)]
        lo = hi


def stack(tensors, dim=0, *, out=None):
    """Stack equal-shaped tensors along a new ``dim``, as ``torch.stack``."""
    _refuse_out("stack", out)
    tensors = _tensors(tensors, "stack")
    if len({t.shape for t in tensors}) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got shapes "
                         f"{', '.join(str(t.shape) for t in tensors)}")
    return Stack.apply(*tensors, dim=_dim(dim, tensors[0].ndim + 1, "stack"))


def center_crop(x, size):
    """The central ``size = (h, w)`` (or ``h`` for a square) window of the last two dims, or
    the central ``(d, h, w)`` block of the last three (a volume, as the 3-D U-Net's skips).

    Offsets as torchvision's ``center_crop``, per dim: ``top = int(round((H - h) / 2))``
    (Python rounds halves to even). A crop larger than the input is an error here
    (torchvision would pad; use ``pad`` for that).
    """
    x = Tensor._lift(x)
    if x.ndim < 2:
        raise ValueError(f"center_crop: expected a tensor with at least 2 dims (..., H, W), "
                         f"got shape {x.shape}")
    size = (size,) if isinstance(size, int) else tuple(size)
    if len(size) not in (1, 2, 3) or len(size) > x.ndim:
        raise ValueError(f"center_crop: size must be an int, (h, w) or (d, h, w), got {size!r} "
                         f"for input shape {x.shape}")
    size = size * 2 if len(size) == 1 else size
    spatial = x.shape[-len(size):]
    if not all(0 < s <= n for s, n in zip(size, spatial)):
        raise ValueError(f"center_crop: crop size {size} must be positive and no larger than "
                         f"the input's spatial size {spatial} (input shape {x.shape})")
    # BEGIN SOLUTION task=3.3 hint="round((n - s) / 2) before each cropped axis, then a slice"
    starts = [int(round((n - s) / 2.0)) for s, n in zip(size, spatial)]
    return getitem(x, (Ellipsis, *(slice(a, a + s) for a, s in zip(starts, size))))
    # END SOLUTION
