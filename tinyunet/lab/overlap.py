"""Where the checkerboard comes from: how many kernel placements cover each output pixel.

A transposed convolution paints a copy of its kernel for every input pixel, ``stride`` pixels
apart. Run it on an input of ones with a kernel of ones and each output pixel counts the
placements that reach it: the *coverage* (overlap) map. In 1-D, output position o is reached
by input i when 0 <= o - s*i < k, so away from the borders

    coverage(o) = #{m >= 0 : (o mod s) + s*m < k} = ceil((k - o mod s) / s),

which depends only on the phase o mod s, and is the same for every phase exactly when s
divides k. Kernel 3, stride 2: 2, 1, 2, 1, ... In 2-D coverage is the product of the two 1-D
counts: 4, 2, 2, 1 -- a checkerboard with max/min = 4. Kernel 4 (or 2), stride 2: uniform.

The gradient side is the same picture: the input-gradient of a stride-s conv is the transposed
conv of the output gradient (the adjoint pair, ``ops/conv.py``), so a stride-2, kernel-3 conv
sends back a checkerboard of gradient even when the loss treats every output alike.
"""

from __future__ import annotations

import numpy as np

from ..ops.conv import conv2d, conv_transpose2d
from ..tensor import Tensor


def _n_inputs(kernel_size: int, stride: int) -> int:
    """Enough input pixels for an interior of several strides past the border effects."""
    return -(-kernel_size // stride) * 2 + 6


def coverage_map_1d(kernel_size: int, stride: int, n: int | None = None) -> np.ndarray:
    """conv_transpose of ``n`` ones with a kernel of ``kernel_size`` ones, stride ``stride``:
    the number of placements covering each output position (borders included)."""
    n = n or _n_inputs(kernel_size, stride)
    x = np.ones((1, 1, 1, n))
    w = np.ones((1, 1, 1, kernel_size))
    return conv_transpose2d(x, w, stride=(1, stride)).data[0, 0, 0]


def coverage_map_2d(kernel_size: int, stride: int, n: int | None = None) -> np.ndarray:
    """The same on an n x n map of ones with a k x k kernel of ones."""
    n = n or _n_inputs(kernel_size, stride)
    x = np.ones((1, 1, n, n))
    w = np.ones((1, 1, kernel_size, kernel_size))
    return conv_transpose2d(x, w, stride=stride).data[0, 0]


def interior(coverage: np.ndarray, kernel_size: int, stride: int) -> np.ndarray:
    """The part of a coverage map every placement could reach: positions k-1 .. (n-1)*s on
    each axis, where neither border is missing a placement."""
    n_in = (coverage.shape[-1] - kernel_size) // stride + 1
    keep = slice(kernel_size - 1, (n_in - 1) * stride + 1)
    return coverage[(keep,) * coverage.ndim]


def coverage_summary(kernel_size: int, stride: int) -> dict:
    """Interior coverage in 1-D and 2-D: one period of values, min, max, and whether it is
    uniform (the claim to check: uniform exactly when ``kernel_size % stride == 0``)."""
    inner_1d = interior(coverage_map_1d(kernel_size, stride), kernel_size, stride)
    inner_2d = interior(coverage_map_2d(kernel_size, stride), kernel_size, stride)
    # start the period at an output position that is a multiple of the stride (phase 0)
    start = (-(kernel_size - 1)) % stride
    period_1d = inner_1d[start:start + stride]
    lo, hi = inner_2d.min(), inner_2d.max()
    return {
        "kernel_size": kernel_size, "stride": stride,
        "period_1d": [int(v) for v in period_1d],
        "values_2d": sorted({int(v) for v in np.unique(inner_2d)}),
        "min_2d": int(lo), "max_2d": int(hi),
        "max_over_min_2d": float(hi / lo) if lo > 0 else float("inf"),
        "uniform": bool(hi == lo),
    }


def input_gradient_map(kernel_size: int = 3, stride: int = 2, n: int = 12,
                       weight: np.ndarray | None = None) -> np.ndarray:
    """dL/dx for L = sum(conv2d(x, w, stride, padding=k // 2)): the output gradient is all
    ones, and the input gradient is its transposed conv, the coverage map of the conv's
    windows (times the kernel, when ``weight`` is not all ones). Returns the interior."""
    w = np.ones((1, 1, kernel_size, kernel_size)) if weight is None else weight
    x = Tensor(np.ones((1, 1, n, n)), requires_grad=True)
    conv2d(x, w, stride=stride, padding=kernel_size // 2).sum().backward()
    margin = kernel_size  # rows near the border see fewer windows: leave them out
    return x.grad[0, 0, margin:n - margin, margin:n - margin]
