"""Upsampling on the GPU: per-axis index tables on the host, a thread per pixel on the device.

Same maps as ``tinyunet.kernels.reference.interpolate`` (read that file for the math); the
per-axis tables are the numba set's own (``_nearest_sources``, ``_linear_sources``, O(H_out +
W_out) NumPy), copied to the device once per call.

Forward: one thread per output pixel reads its one (nearest) or four (bilinear) sources.

Backward: one thread per *input* pixel gathers the outputs that read it, instead of each
output scatter-adding into its sources (which would make threads collide). The tables are
monotone -- output row i reads a row that never decreases as i grows -- so the outputs that
read input row h form one contiguous run ``[lo[h], hi[h])``, found on the host with
``searchsorted``. Bilinear has two runs per row: the outputs that read h as their upper
neighbour (weight a0) and those that read it as their lower one (weight a1); bicubic has four,
one per tap. No atomics: every element has one writer and is summed in a fixed order.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ...backend import get_array_module
from ..numba_cpu.interpolate import _cubic_sources, _linear_sources, _nearest_sources
from ._launch import launch


def _planes(a):
    """(N, C, H, W) -> (N*C, H, W), contiguous."""
    N, C, H, W = a.shape
    return get_array_module(a).ascontiguousarray(a).reshape(N * C, H, W)


def _runs(sources, in_size):
    """(lo, hi) per input index: the outputs ``dst`` with ``sources[dst] == src`` are lo..hi-1."""
    src = np.arange(in_size)
    return (np.searchsorted(sources, src, side="left"),
            np.searchsorted(sources, src, side="right"))


# ----- nearest ---------------------------------------------------------------------------------


@cuda.jit(cache=True)
def _nearest(x, rows, cols, y):
    """y[plane, i, j] = x[plane, rows[i], cols[j]]: a thread per output."""
    P, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        y[plane, i, j] = x[plane, rows[i], cols[j]]


@cuda.jit(cache=True)
def _nearest_backward(grad_y, row_lo, row_hi, col_lo, col_hi, grad_x):
    """grad_x[plane, h, w] = sum of grad_y over the block of outputs that copied (h, w)."""
    P, H, W = grad_x.shape
    for item in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        plane, h, w = item // (H * W), (item // W) % H, item % W
        total = 0.0
        for i in range(row_lo[h], row_hi[h]):
            for j in range(col_lo[w], col_hi[w]):
                total += grad_y[plane, i, j]
        grad_x[plane, h, w] = total


def upsample_nearest2d(x, out_size, scales, exact):
    """y[n, c, i, j] = x[n, c, src_h[i], src_w[j]]."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    rows = xp.asarray(_nearest_sources(H, out_size[0], scales[0], exact))
    cols = xp.asarray(_nearest_sources(W, out_size[1], scales[1], exact))
    y = xp.empty((N * C, *out_size), dtype=x.dtype)
    launch(_nearest, y.size, _planes(x), rows, cols, y)
    return y.reshape(N, C, *out_size)


def upsample_nearest2d_backward(grad_y, input_shape, scales, exact):
    """grad_x[h, w] = sum of grad_y[i, j] over the (i, j) with src_h[i] = h, src_w[j] = w."""
    xp = get_array_module(grad_y)
    N, C, H, W = input_shape
    row_runs = _runs(_nearest_sources(H, grad_y.shape[2], scales[0], exact), H)
    col_runs = _runs(_nearest_sources(W, grad_y.shape[3], scales[1], exact), W)
    grad_x = xp.empty((N * C, H, W), dtype=grad_y.dtype)
    launch(_nearest_backward, grad_x.size, _planes(grad_y),
           *(xp.asarray(t) for t in row_runs + col_runs), grad_x)
    return grad_x.reshape(input_shape)


# ----- bilinear --------------------------------------------------------------------------------


def _bilinear_tables(xp, in_size, out_size, align_corners, scale, dtype):
    """Device copies of (i0, i1, l0, l1): y[dst] = l0 * x[i0] + l1 * x[i1] along one axis.

    The weights are in the data's dtype, so float32 data is blended in float32 (as PyTorch's
    GPU kernel does).
    """
    i0, i1, l0, l1 = _linear_sources(in_size, out_size, align_corners, scale)
    return xp.asarray(i0), xp.asarray(i1), xp.asarray(l0, dtype=dtype), xp.asarray(l1, dtype=dtype)


@cuda.jit(cache=True)
def _bilinear(x, h0, h1, a0, a1, w0, w1, b0, b1, y):
    """y[plane, i, j] = the 2 x 2 neighbours blended by row and column weights."""
    P, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        y[plane, i, j] = (
            a0[i] * (b0[j] * x[plane, h0[i], w0[j]] + b1[j] * x[plane, h0[i], w1[j]])
            + a1[i] * (b0[j] * x[plane, h1[i], w0[j]] + b1[j] * x[plane, h1[i], w1[j]]))


@cuda.jit(device=True)
def _weighted_row(grad_y, plane, i, w, cols, b0, b1):
    """sum over the outputs j of row i that read column w, each times its column weight."""
    total = 0.0
    for j in range(cols[0, w], cols[1, w]):  # outputs with w0[j] == w
        total += b0[j] * grad_y[plane, i, j]
    for j in range(cols[2, w], cols[3, w]):  # outputs with w1[j] == w
        total += b1[j] * grad_y[plane, i, j]
    return total


@cuda.jit(cache=True)
def _bilinear_backward(grad_y, rows, a0, a1, cols, b0, b1, grad_x):
    """grad_x[plane, h, w] = sum over the outputs that read (h, w) of weight * grad_y.

    ``rows[0:2, h]`` is the run of outputs with h0[i] == h, ``rows[2:4, h]`` those with
    h1[i] == h (both hold h at the clamped last row); ``cols`` likewise for w.
    """
    P, H, W = grad_x.shape
    for item in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        plane, h, w = item // (H * W), (item // W) % H, item % W
        total = 0.0
        for i in range(rows[0, h], rows[1, h]):
            total += a0[i] * _weighted_row(grad_y, plane, i, w, cols, b0, b1)
        for i in range(rows[2, h], rows[3, h]):
            total += a1[i] * _weighted_row(grad_y, plane, i, w, cols, b0, b1)
        grad_x[plane, h, w] = total


def upsample_bilinear2d(x, out_size, align_corners, scales):
    """y[i, j] = sum over the 2 x 2 neighbours of (row weight) * (column weight) * x."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    rows = _bilinear_tables(xp, H, out_size[0], align_corners, scales[0], x.dtype)
    cols = _bilinear_tables(xp, W, out_size[1], align_corners, scales[1], x.dtype)
    y = xp.empty((N * C, *out_size), dtype=x.dtype)
    launch(_bilinear, y.size, _planes(x), *rows, *cols, y)
    return y.reshape(N, C, *out_size)


def _bilinear_runs(xp, in_size, out_size, align_corners, scale, dtype):
    """(runs (4, in_size), l0, l1) for one axis: the two neighbour runs of every input index."""
    i0, i1, l0, l1 = _linear_sources(in_size, out_size, align_corners, scale)
    runs = np.stack(_runs(i0, in_size) + _runs(i1, in_size))
    return xp.asarray(runs), xp.asarray(l0, dtype=dtype), xp.asarray(l1, dtype=dtype)


def upsample_bilinear2d_backward(grad_y, input_shape, align_corners, scales):
    """Each input pixel collects grad_y from the outputs that blended it, times their weights."""
    xp = get_array_module(grad_y)
    N, C, H, W = input_shape
    rows = _bilinear_runs(xp, H, grad_y.shape[2], align_corners, scales[0], grad_y.dtype)
    cols = _bilinear_runs(xp, W, grad_y.shape[3], align_corners, scales[1], grad_y.dtype)
    grad_x = xp.empty((N * C, H, W), dtype=grad_y.dtype)
    launch(_bilinear_backward, grad_x.size, _planes(grad_y), *rows, *cols, grad_x)
    return grad_x.reshape(input_shape)


# ----- bicubic ---------------------------------------------------------------------------------


def _cubic_tables(xp, in_size, out_size, align_corners, scale, dtype):
    """Device copies of taps (out, 4), weights (out, 4) and, per tap k, the runs
    ``runs[2k:2k+2, h]`` of outputs whose k-th tap is input index h."""
    taps, weights = _cubic_sources(in_size, out_size, align_corners, scale)
    runs = np.concatenate([np.stack(_runs(taps[:, k], in_size)) for k in range(4)])
    return (xp.asarray(np.ascontiguousarray(taps)), xp.asarray(weights, dtype=dtype),
            xp.asarray(runs))


@cuda.jit(cache=True)
def _bicubic(x, rows, a, cols, b, y):
    """y[plane, i, j] = the 4 x 4 taps blended by row and column weights: a thread each."""
    P, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        total = 0.0
        for p in range(4):
            inner = 0.0
            for q in range(4):
                inner += b[j, q] * x[plane, rows[i, p], cols[j, q]]
            total += a[i, p] * inner
        y[plane, i, j] = total


@cuda.jit(cache=True)
def _bicubic_backward(grad_y, a, row_runs, b, col_runs, grad_x):
    """grad_x[plane, h, w] = sum over the outputs that read (h, w), as their (p, q) tap, of
    a[i, p] b[j, q] grad_y[i, j]: four row runs times four column runs per input pixel."""
    P, H, W = grad_x.shape
    for item in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        plane, h, w = item // (H * W), (item // W) % H, item % W
        total = 0.0
        for p in range(4):
            for i in range(row_runs[2 * p, h], row_runs[2 * p + 1, h]):
                inner = 0.0
                for q in range(4):
                    for j in range(col_runs[2 * q, w], col_runs[2 * q + 1, w]):
                        inner += b[j, q] * grad_y[plane, i, j]
                total += a[i, p] * inner
        grad_x[plane, h, w] = total


def upsample_bicubic2d(x, out_size, align_corners, scales):
    """y[i, j] = sum over the 4 x 4 taps of (row weight) * (column weight) * x."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    rows = _cubic_tables(xp, H, out_size[0], align_corners, scales[0], x.dtype)
    cols = _cubic_tables(xp, W, out_size[1], align_corners, scales[1], x.dtype)
    y = xp.empty((N * C, *out_size), dtype=x.dtype)
    launch(_bicubic, y.size, _planes(x), *rows[:2], *cols[:2], y)
    return y.reshape(N, C, *out_size)


def upsample_bicubic2d_backward(grad_y, input_shape, align_corners, scales):
    """Each input pixel collects grad_y from the outputs that read it, times their weights."""
    xp = get_array_module(grad_y)
    N, C, H, W = input_shape
    _, a, row_runs = _cubic_tables(xp, H, grad_y.shape[2], align_corners, scales[0],
                                   grad_y.dtype)
    _, b, col_runs = _cubic_tables(xp, W, grad_y.shape[3], align_corners, scales[1],
                                   grad_y.dtype)
    grad_x = xp.empty((N * C, H, W), dtype=grad_y.dtype)
    launch(_bicubic_backward, grad_x.size, _planes(grad_y), a, row_runs, b, col_runs, grad_x)
    return grad_x.reshape(input_shape)
