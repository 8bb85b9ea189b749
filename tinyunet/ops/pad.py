"""pad: grow (or, with negative padding, shrink) the trailing dims of a tensor.

PyTorch's convention: ``pad`` lists (before, after) pairs starting from the *last* dim, so
``(left, right, top, bottom)`` pads W by left/right and H by top/bottom. A negative width
crops instead. Along one axis of n elements, output position o reads input ``i = o - before``
mapped back into the input by the mode::

    constant   value where i is outside [0, n)                 [a b c d] (2, 1): v v a b c d v
    reflect    mirror about the edge pixel, not repeating it   c b | a b c d | c   (pad < n)
    replicate  the edge pixel, repeated: clamp(i, 0, n - 1)    a a | a b c d | d
    circular   wrap around: the start follows the end          c d | a b c d | a   (pad <= n)

(circular first crops any negative side and then wraps around what is left, as PyTorch does.)
Backward: every output cell sends its gradient back to the input cell it copied; reflected,
replicated and wrapped copies add up onto their sources, constant cells send nothing.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor

MODES = ("constant", "reflect", "replicate", "circular")


def _axis(ndim, axis, index):
    """An index tuple selecting ``index`` along ``axis`` and everything along the others."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def _kept(size, before, after):
    """The input elements that survive and where they land: input i goes to output i + before."""
    lo = max(-before, 0)                          # a negative pad crops from the start ...
    hi = size - max(-after, 0)                    # ... or from the end
    return slice(lo, hi), slice(lo + before, hi + before)


def _sources(n, before, after, mode):
    """The input index that each output position along one axis copies (the docstring's map)."""
    o = np.arange(n + before + after)
    if mode == "circular":
        lo = max(-before, 0)
        kept = n - lo - max(-after, 0)            # what is left after cropping
        return lo + (o - max(before, 0)) % kept
    i = o - before
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    i = np.abs(i)                                 # reflect the left side about pixel 0 ...
    return np.where(i > n - 1, 2 * (n - 1) - i, i)  # ... and the right about pixel n - 1


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


class CopyPad(Function):
    """reflect, replicate, circular: y gathers x along each padded axis by its source table;
    the backward scatter-adds each axis's gradient back through the same table, last first."""

    @staticmethod
    def forward(ctx, x, sources=()):
        xp = get_array_module(x)
        ctx.sources, ctx.sizes = sources, [x.shape[a] for a, _ in sources]
        for a, index in sources:
            x = xp.take(x, xp.asarray(index), axis=a)
        return x

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        for (a, index), n in reversed(list(zip(ctx.sources, ctx.sizes))):
            shape = grad.shape[:a] + (n,) + grad.shape[a + 1:]
            folded = xp.zeros(shape, dtype=grad.dtype)
            xp.add.at(folded, _axis(grad.ndim, a, xp.asarray(index)), grad)
            grad = folded
        return grad


def pad(input, pad, mode="constant", value=None):
    """Pad the trailing dims of ``x`` by ``pad = (before_last, after_last, before_2nd_last, ...)``,
    as ``torch.nn.functional.pad``: modes ``"constant"`` (with ``value``, default 0),
    ``"reflect"``, ``"replicate"`` and ``"circular"`` (see the module docstring)."""
    x = Tensor._lift(input)
    if mode not in MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; supported modes are {MODES}")
    widths = tuple(pad)
    if len(widths) % 2 or not all(isinstance(p, (int, np.integer)) for p in widths):
        raise ValueError(f"pad: pad must be an even-length sequence of ints "
                         f"(before, after) per dim, last dim first; got {pad!r}")
    if len(widths) // 2 > x.ndim:
        raise ValueError(f"pad: pad {widths} pads {len(widths) // 2} dims but the input of "
                         f"shape {x.shape} has only {x.ndim}")
    # (before, after) pairs in axis order: pad lists the last axis first
    pairs = tuple((int(widths[i]), int(widths[i + 1])) for i in range(0, len(widths), 2))[::-1]
    axes = range(x.ndim - len(pairs), x.ndim)
    for a, (before, after) in zip(axes, pairs):
        if x.shape[a] + min(before, 0) + min(after, 0) < 0:
            raise ValueError(f"pad: padding ({before}, {after}) crops more than the "
                             f"{x.shape[a]} elements of dim {a} (input shape {x.shape})")
    if mode == "constant":
        if value is not None and not isinstance(value, Real):
            raise TypeError(f"pad: value must be a number, got {value!r}")
        return ConstantPad.apply(x, pads=pairs, value=0.0 if value is None else value)
    if value is not None and value != 0:
        raise ValueError(f"pad: value={value} only makes sense with mode='constant' (got "
                         f"mode={mode!r})")
    sources = []
    for a, (before, after) in zip(axes, pairs):
        _check_width(mode, a, x.shape[a], before, after, x.shape)
        if (before, after) != (0, 0):
            sources.append((a, _sources(x.shape[a], before, after, mode)))
    return CopyPad.apply(x, sources=tuple(sources))


def _check_width(mode, a, n, before, after, shape):
    """reflect needs pad < n (the mirror skips the edge pixel), circular pad <= n (one wrap),
    replicate a pixel to repeat."""
    largest = max(before, after)
    if mode == "reflect" and largest >= n:
        raise ValueError(f"pad: reflect padding ({before}, {after}) of dim {a} must be smaller "
                         f"than its size {n} (input shape {shape})")
    if mode == "circular" and largest > n + min(before, 0) + min(after, 0):
        raise ValueError(f"pad: circular padding ({before}, {after}) of dim {a} would wrap "
                         f"around its {n} elements more than once (input shape {shape})")
    if mode == "replicate" and n == 0 and largest > 0:
        raise ValueError(f"pad: replicate padding of dim {a} needs at least one element to "
                         f"repeat (input shape {shape})")
