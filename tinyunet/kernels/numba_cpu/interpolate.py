"""Upsampling, fast: per-axis index tables in NumPy, the gathers and scatter-adds in numba.

Same maps as ``tinyunet.kernels.reference.interpolate`` (read that file for the math). The
tables are O(H_out + W_out); the O(N C H_out W_out) work runs with ``prange`` over the N*C
planes, so the backward scatter-adds never race (each thread owns its plane).
"""

import numpy as np
from numba import njit, prange


def _nearest_sources(in_size, out_size, scale, exact):
    """src[dst] = min(floor(dst * scale), in - 1), or floor((dst + 0.5) * scale) when
    ``exact``, rounded as PyTorch rounds them (see the reference set)."""
    if exact:
        dst = np.arange(out_size, dtype=np.float64) + 0.5
        src = np.floor((dst * float(np.float32(scale))).astype(np.float32)).astype(np.int64)
    else:
        dst = np.arange(out_size, dtype=np.float32)
        src = np.floor(dst * np.float32(scale)).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _linear_sources(in_size, out_size, align_corners, scale):
    """Arrays i0, i1, l0, l1 with y[dst] = l0 * x[i0] + l1 * x[i1]."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(out_size)
    else:
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    l1 = np.clip(src - i0, 0.0, 1.0)
    return i0, i1, 1.0 - l1, l1


def _cubic_sources(in_size, out_size, align_corners, scale):
    """Arrays taps (out, 4) and weights (out, 4): y[dst] = sum_k weights[dst, k] *
    x[taps[dst, k]], Keys' kernel at a = -0.75 (see the reference set)."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(out_size)
    else:
        src = (dst + 0.5) * scale - 0.5
    f = np.floor(src)
    t = (src - f)[:, None]
    taps = np.clip(f.astype(np.int64)[:, None] - 1 + np.arange(4), 0, in_size - 1)
    d = np.abs(np.concatenate([t + 1, t, 1 - t, 2 - t], axis=1))
    a = -0.75
    near = ((a + 2) * d - (a + 3)) * d * d + 1           # |d| <= 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a      # 1 < |d| < 2
    return taps, np.where(d <= 1, near, far)


def _planes(a):
    N, C, H, W = a.shape
    return np.ascontiguousarray(a).reshape(N * C, H, W)


@njit(parallel=True, cache=True)
def _gather_nearest(x, rows, cols, y):
    for plane in prange(x.shape[0]):
        for i in range(rows.shape[0]):
            for j in range(cols.shape[0]):
                y[plane, i, j] = x[plane, rows[i], cols[j]]


@njit(parallel=True, cache=True)
def _scatter_nearest(grad_y, rows, cols, grad_x):
    for plane in prange(grad_y.shape[0]):
        for i in range(rows.shape[0]):
            for j in range(cols.shape[0]):
                grad_x[plane, rows[i], cols[j]] += grad_y[plane, i, j]


def upsample_nearest2d(x, out_size, scales, exact):
    """y[n, c, i, j] = x[n, c, src_h[i], src_w[j]]."""
    N, C, H, W = x.shape
    rows = _nearest_sources(H, out_size[0], scales[0], exact)
    cols = _nearest_sources(W, out_size[1], scales[1], exact)
    y = np.empty((N * C, out_size[0], out_size[1]), dtype=x.dtype)
    _gather_nearest(_planes(x), rows, cols, y)
    return y.reshape(N, C, out_size[0], out_size[1])


def upsample_nearest2d_backward(grad_y, input_shape, scales, exact):
    """grad_x[src_h[i], src_w[j]] += grad_y[i, j]."""
    N, C, H, W = input_shape
    rows = _nearest_sources(H, grad_y.shape[2], scales[0], exact)
    cols = _nearest_sources(W, grad_y.shape[3], scales[1], exact)
    grad_x = np.zeros((N * C, H, W), dtype=grad_y.dtype)
    _scatter_nearest(_planes(grad_y), rows, cols, grad_x)
    return grad_x.reshape(input_shape)


@njit(parallel=True, cache=True)
def _gather_bilinear(x, h0, h1, a0, a1, w0, w1, b0, b1, y):
    for plane in prange(x.shape[0]):
        for i in range(h0.shape[0]):
            for j in range(w0.shape[0]):
                y[plane, i, j] = (
                    a0[i] * (b0[j] * x[plane, h0[i], w0[j]] + b1[j] * x[plane, h0[i], w1[j]])
                    + a1[i] * (b0[j] * x[plane, h1[i], w0[j]] + b1[j] * x[plane, h1[i], w1[j]]))


@njit(parallel=True, cache=True)
def _scatter_bilinear(grad_y, h0, h1, a0, a1, w0, w1, b0, b1, grad_x):
    for plane in prange(grad_y.shape[0]):
        for i in range(h0.shape[0]):
            for j in range(w0.shape[0]):
                g = grad_y[plane, i, j]
                grad_x[plane, h0[i], w0[j]] += a0[i] * b0[j] * g
                grad_x[plane, h0[i], w1[j]] += a0[i] * b1[j] * g
                grad_x[plane, h1[i], w0[j]] += a1[i] * b0[j] * g
                grad_x[plane, h1[i], w1[j]] += a1[i] * b1[j] * g


def upsample_bilinear2d(x, out_size, align_corners, scales):
    """y[i, j] = sum over the 2 x 2 neighbours of (row weight) * (column weight) * x."""
    N, C, H, W = x.shape
    rows = _linear_sources(H, out_size[0], align_corners, scales[0])
    cols = _linear_sources(W, out_size[1], align_corners, scales[1])
    y = np.empty((N * C, out_size[0], out_size[1]), dtype=x.dtype)
    _gather_bilinear(_planes(x), *rows, *cols, y)
    return y.reshape(N, C, out_size[0], out_size[1])


def upsample_bilinear2d_backward(grad_y, input_shape, align_corners, scales):
    """Each grad_y[i, j] is added to its four neighbours, times their bilinear weights."""
    N, C, H, W = input_shape
    rows = _linear_sources(H, grad_y.shape[2], align_corners, scales[0])
    cols = _linear_sources(W, grad_y.shape[3], align_corners, scales[1])
    grad_x = np.zeros((N * C, H, W), dtype=grad_y.dtype)
    _scatter_bilinear(_planes(grad_y), *rows, *cols, grad_x)
    return grad_x.reshape(input_shape)


@njit(parallel=True, cache=True)
def _gather_bicubic(x, rows, a, cols, b, y):
    for plane in prange(x.shape[0]):
        for i in range(rows.shape[0]):
            for j in range(cols.shape[0]):
                total = 0.0
                for p in range(4):
                    inner = 0.0
                    for q in range(4):
                        inner += b[j, q] * x[plane, rows[i, p], cols[j, q]]
                    total += a[i, p] * inner
                y[plane, i, j] = total


@njit(parallel=True, cache=True)
def _scatter_bicubic(grad_y, rows, a, cols, b, grad_x):
    for plane in prange(grad_y.shape[0]):
        for i in range(rows.shape[0]):
            for j in range(cols.shape[0]):
                g = grad_y[plane, i, j]
                for p in range(4):
                    for q in range(4):
                        grad_x[plane, rows[i, p], cols[j, q]] += a[i, p] * b[j, q] * g


def upsample_bicubic2d(x, out_size, align_corners, scales):
    """y[i, j] = sum over the 4 x 4 taps of (row weight) * (column weight) * x."""
    N, C, H, W = x.shape
    rows = _cubic_sources(H, out_size[0], align_corners, scales[0])
    cols = _cubic_sources(W, out_size[1], align_corners, scales[1])
    y = np.empty((N * C, out_size[0], out_size[1]), dtype=x.dtype)
    _gather_bicubic(_planes(x), *rows, *cols, y)
    return y.reshape(N, C, out_size[0], out_size[1])


def upsample_bicubic2d_backward(grad_y, input_shape, align_corners, scales):
    """Each grad_y[i, j] is added to its sixteen taps, times their bicubic weights."""
    N, C, H, W = input_shape
    rows = _cubic_sources(H, grad_y.shape[2], align_corners, scales[0])
    cols = _cubic_sources(W, grad_y.shape[3], align_corners, scales[1])
    grad_x = np.zeros((N * C, H, W), dtype=grad_y.dtype)
    _scatter_bicubic(_planes(grad_y), *rows, *cols, grad_x)
    return grad_x.reshape(input_shape)
