"""pad: grow (or, with negative constant padding, shrink) the trailing dims of a tensor.

PyTorch's convention: ``pad`` lists (before, after) pairs starting from the *last* dim, so
``(left, right, top, bottom)`` pads W by left/right and H by top/bottom.

constant   new cells hold ``value``; a negative pad crops instead.
           Backward: the gradient of the copied block, sliced back out.
reflect    new cells mirror the input about its edge pixel, which is not repeated:
           [a b c d] padded (2, 1) is [c b | a b c d | c]. Needs pad < size.
           Backward: every mirrored copy sends its gradient back to the pixel it copied,
           so the reflected strips of the gradient are flipped and added onto the inside.
"""

from __future__ import annotations

from numbers import Real

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor

MODES = ("constant", "reflect")


def _axis(ndim, axis, index):
    """An index tuple selecting ``index`` along ``axis`` and everything along the others."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def _kept(size, before, after):
    """The input elements that survive and where they land: input i goes to output i + before."""
    lo = max(-before, 0)                          # a negative pad crops from the start ...
    hi = size - max(-after, 0)                    # ... or from the end
    return slice(lo, hi), slice(lo + before, hi + before)


class ConstantPad(Function):
    """y = value everywhere, with x copied into the block it keeps; dL/dx = that block of dL/dy."""

    @staticmethod
    def forward(ctx, x, pads=(), value=0.0):
        xp = get_array_module(x)
        axes = range(x.ndim - len(pads), x.ndim)
        shape = x.shape[: x.ndim - len(pads)] + tuple(
            x.shape[a] + before + after for a, (before, after) in zip(axes, pads))
        src, dst = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for a, (before, after) in zip(axes, pads):
            src[a], dst[a] = _kept(x.shape[a], before, after)
        ctx.input_shape, ctx.src, ctx.dst = x.shape, tuple(src), tuple(dst)
        y = xp.full(shape, value, dtype=x.dtype)
        y[ctx.dst] = x[ctx.src]
        return y

    @staticmethod
    def backward(ctx, grad):
        grad_x = get_array_module(grad).zeros(ctx.input_shape, dtype=grad.dtype)
        grad_x[ctx.src] = grad[ctx.dst]
        return grad_x


class ReflectPad(Function):
    """y = [flipped strip, x, flipped strip] along each padded axis; the backward folds back."""

    @staticmethod
    def forward(ctx, x, pads=()):
        xp = get_array_module(x)
        ctx.pads, first = pads, x.ndim - len(pads)
        for a, (before, after) in enumerate(pads, start=first):
            n = x.shape[a]
            left = xp.flip(x[_axis(x.ndim, a, slice(1, before + 1))], axis=a)
            right = xp.flip(x[_axis(x.ndim, a, slice(n - 1 - after, n - 1))], axis=a)
            x = xp.concatenate([left, x, right], axis=a)
        return x

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        first = grad.ndim - len(ctx.pads)
        for a, (before, after) in reversed(list(enumerate(ctx.pads, start=first))):
            n = grad.shape[a] - before - after
            g = grad[_axis(grad.ndim, a, slice(before, before + n))].copy()
            g[_axis(g.ndim, a, slice(1, before + 1))] += xp.flip(
                grad[_axis(grad.ndim, a, slice(0, before))], axis=a)
            g[_axis(g.ndim, a, slice(n - 1 - after, n - 1))] += xp.flip(
                grad[_axis(grad.ndim, a, slice(before + n, before + n + after))], axis=a)
            grad = g
        return grad


def pad(x, pad, mode="constant", value=0.0):
    """Pad the trailing dims of ``x`` by ``pad = (before_last, after_last, before_2nd_last, ...)``,
    as ``torch.nn.functional.pad``; modes ``"constant"`` (with ``value``) and ``"reflect"``."""
    x = Tensor._lift(x)
    if mode not in MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; supported modes are {MODES}")
    widths = tuple(pad)
    if len(widths) % 2 or not all(isinstance(p, int) for p in widths):
        raise ValueError(f"pad: pad must be an even-length sequence of ints "
                         f"(before, after) per dim, last dim first; got {pad!r}")
    if len(widths) // 2 > x.ndim:
        raise ValueError(f"pad: pad {widths} pads {len(widths) // 2} dims but the input of "
                         f"shape {x.shape} has only {x.ndim}")
    # (before, after) pairs in axis order: pad lists the last axis first
    pairs = tuple((widths[i], widths[i + 1]) for i in range(0, len(widths), 2))[::-1]
    axes = range(x.ndim - len(pairs), x.ndim)
    if mode == "constant":
        for a, (before, after) in zip(axes, pairs):
            if x.shape[a] + min(before, 0) + min(after, 0) < 0:
                raise ValueError(f"pad: padding ({before}, {after}) crops more than the "
                                 f"{x.shape[a]} elements of dim {a} (input shape {x.shape})")
        if value is not None and not isinstance(value, Real):
            raise TypeError(f"pad: value must be a number, got {value!r}")
        return ConstantPad.apply(x, pads=pairs, value=0.0 if value is None else value)
    for a, (before, after) in zip(axes, pairs):
        if not (0 <= before < x.shape[a] and 0 <= after < x.shape[a]):
            raise ValueError(f"pad: reflect padding ({before}, {after}) of dim {a} must be "
                             f"non-negative and smaller than its size {x.shape[a]} "
                             f"(input shape {x.shape})")
    return ReflectPad.apply(x, pads=pairs)
