"""Which input sizes a U-Net accepts, and the size of every map on the way down and up.

A U-Net level runs two 3x3 (or 3x3x3) convolutions and then a 2x max-pool; the way up doubles
the size with a 2x up-convolution, concatenates the skip and runs two more convolutions. Per
axis, for an input of n voxels and depth D:

* ``padding="same"``: the convolutions keep the size, each pool halves it, so n must be
  divisible by 2**D; the output is n.
* ``padding="valid"`` (the 2015 and 2016 papers): each conv trims 1 voxel per side, so a
  level's two convs take 4; every pool needs an even size, or the up-convolution could not
  give it back. Going down, a_{k+1} = (a_k - 4) / 2; at the bottom b = a_D - 4; going up,
  c_D = b, c_k = 2 c_{k+1} - 4. The skip s_k = a_k - 4 is larger than the up-sampled map
  2 c_{k+1}: it is center-cropped by the difference, which is even (both sizes are), half of
  it on each side. Unrolled, the legal sizes are

      n = 2**D * b + 2**(D+3) - 4,   b the bottom size: b >= 4 for D >= 2 (b >= 3 for D = 1),
                                      so that every map on the way up keeps a voxel

  572 = 16*28 + 124 for D = 4 (the paper's 572 -> 388), 132 = 8*9 + 60 and 116 = 8*7 + 60
  for the 3-D U-Net's D = 3 (132x132x116 -> 44x44x28).

``size_plan`` traces one input and returns a ``SizePlan`` (print it for the table), or raises
ValueError naming the nearest legal sizes above and below. The models call ``require_legal_size``
first thing in ``forward``, so a bad size fails before the first convolution.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

TRIM = 4  # two 3x3 'valid' convolutions per level take 2 voxels each per axis


@dataclass(frozen=True)
class Level:
    """One level of the U (0 = top), sizes as the input was given (int or tuple)."""

    level: int
    down: tuple  # (entering the level, after its two convs = the skip s_k)
    up: tuple  # (after the up-convolution, after the two convs that follow the concat)
    crop: object  # voxels cropped off the skip, per axis (half on each side); 0 for 'same'


@dataclass(frozen=True)
class SizePlan:
    """The sizes through a U-Net: ``levels`` top-down, ``bottleneck`` (in, out), ``output``."""

    input_size: object
    depth: int
    padding: str
    dims: int
    levels: tuple
    bottleneck: tuple
    output: object

    def __str__(self) -> str:
        head = (f"U-Net size plan: input {self.input_size}, depth {self.depth}, "
                f"'{self.padding}' convolutions, {self.dims}-D")
        rows = [("level", "down: in -> convs", "skip crop per side", "up: in -> convs")]
        for lv in self.levels:
            crop = "-" if _zero(lv.crop) else str(_half(lv.crop))
            rows.append((str(lv.level), f"{lv.down[0]} -> {lv.down[1]}", crop,
                         f"{lv.up[0]} -> {lv.up[1]}"))
        rows.append((str(self.depth), f"{self.bottleneck[0]} -> {self.bottleneck[1]}",
                     "(bottleneck)", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [head] + [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                          for r in rows]
        return "\n".join(lines + [f"output {self.output}"])


def _zero(v):
    return v == 0 or (isinstance(v, tuple) and not any(v))


def _half(v):
    return tuple(c // 2 for c in v) if isinstance(v, tuple) else v // 2


def _trace(n, depth, padding):
    """Per-axis sizes (down pairs, bottleneck pair, up pairs, crops) for input n, or the
    reason n is illegal (a str)."""
    trim = TRIM if padding == "valid" else 0
    down, a = [], n
    for k in range(depth):
        b = a - trim
        if b < 1:
            return f"at level {k} the two convolutions leave {b} voxels"
        if b % 2:  # the pool would drop a row, and the up-convolution could not give it back
            return f"at level {k} the 2x max-pool meets an odd size {b}"
        down.append((a, b))
        a = b // 2
    c = a - trim
    if c < 1:
        return f"the bottleneck's convolutions leave {c} voxels"
    bottleneck, up, crops = (a, c), [], []
    for k in reversed(range(depth)):
        u = 2 * c
        c = u - trim
        if c < 1:
            return f"on the way up, level {k}'s convolutions leave {c} voxels"
        up.append((u, c))
        crops.append(down[k][1] - u)
    return down, bottleneck, up[::-1], crops[::-1]


def _nearest(n, depth, padding):
    """The largest legal size below n (None if there is none) and the smallest above."""
    below = next((m for m in range(n - 1, 0, -1) if not isinstance(
        _trace(m, depth, padding), str)), None)
    above = next(m for m in itertools.count(n + 1)  # legal sizes recur every 2**depth
                 if not isinstance(_trace(m, depth, padding), str))
    return below, above


def legal_size(n: int, depth: int = 4, padding: str = "valid") -> int:
    """n itself if a U-Net of this depth and padding takes it, else the nearest legal size
    above (``legal_size(570) == 572`` for depth 4, 'valid')."""
    return n if not isinstance(_trace(n, depth, padding), str) else _nearest(n, depth, padding)[1]


def size_plan(input_size, depth: int = 4, padding: str = "valid", dims: int = 2) -> SizePlan:
    """The size plan of a U-Net of ``depth`` pools on an input of ``input_size`` (an int for
    every axis, or a tuple of ``dims`` ints); ValueError names the nearest legal sizes.

    >>> size_plan(572, depth=4).output
    388
    >>> size_plan((132, 132, 116), depth=3, dims=3).output
    (44, 44, 28)
    """
    if padding not in ("same", "valid"):
        raise ValueError(f"size_plan: padding must be 'same' or 'valid', got {padding!r}")
    if depth < 1 or dims < 1:
        raise ValueError(f"size_plan: depth ({depth}) and dims ({dims}) must be at least 1")
    single = not isinstance(input_size, (tuple, list))
    sizes = (int(input_size),) * dims if single else tuple(int(n) for n in input_size)
    if len(sizes) != dims:
        raise ValueError(f"size_plan: input size {tuple(input_size)} has {len(sizes)} axes "
                         f"but dims={dims}")
    traces = [_trace(n, depth, padding) for n in sizes]
    bad = [(axis, t) for axis, t in enumerate(traces) if isinstance(t, str)]
    if bad:
        raise ValueError(_illegal(input_size if single else sizes, sizes, bad, depth, padding,
                                  single))

    def pack(values):  # one int per axis -> an int (input given as int) or a tuple
        return values[0] if single else tuple(values)

    levels = tuple(
        Level(k, tuple(pack([t[0][k][i] for t in traces]) for i in range(2)),
              tuple(pack([t[2][k][i] for t in traces]) for i in range(2)),
              pack([t[3][k] for t in traces]))
        for k in range(depth))
    bottleneck = tuple(pack([t[1][i] for t in traces]) for i in range(2))
    return SizePlan(input_size if single else sizes, depth, padding, dims, levels, bottleneck,
                    pack([t[2][0][1] for t in traces]))


def require_legal_size(model, size, depth, padding, dims):
    """size_plan's verdict on a model's input (its spatial ``size``), the error prefixed with
    the model's name and depth. A size of the wrong rank is left to the first layer, whose
    error names the layout it expects."""
    if len(size) == dims:
        try:
            size_plan(tuple(size), depth, padding, dims)
        except ValueError as err:
            raise ValueError(f"{model}(depth={depth}): {err}") from None


def _illegal(shown, sizes, bad, depth, padding, single):
    """The error message: what went wrong on which axis, and the nearest legal sizes."""
    axes = {}  # reason -> the axes it holds for (a cube's axes all say the same)
    for axis, reason in bad:
        axes.setdefault(reason, []).append(axis)
    if single or len(sizes) == 1:
        reasons = "; ".join(axes)
    else:
        reasons = "; ".join(f"axis {a[0]}: {r}" if len(a) == 1 else
                            f"axes {', '.join(map(str, a))}: {r}" for r, a in axes.items())
    if padding == "same":
        reasons = (f"each max-pool halves the size, so every side must be divisible by "
                   f"2**depth = {2**depth}; got {shown}")
    below, above = list(sizes), list(sizes)
    for axis, _ in bad:
        below[axis], above[axis] = _nearest(sizes[axis], depth, padding)
    above_s = above[0] if single else tuple(above)
    if any(b is None for b in below):
        nearest = f"there is no legal size below it; the nearest above is {above_s}"
    else:
        nearest = f"the nearest legal sizes are {below[0] if single else tuple(below)} " \
                  f"(below) and {above_s} (above)"
    return (f"input size {shown} is not legal for a depth-{depth} U-Net with '{padding}' "
            f"convolutions: {reasons}; {nearest}")


__all__ = ["size_plan", "legal_size", "require_legal_size", "SizePlan", "Level"]
