"""Pooling, fast: the reference loops compiled by numba, one thread per (n, c) plane.

Same formulas and the same tie rule as ``tinyunet.kernels.reference.pool`` (read that file
for the math, the dilation and ceil_mode rules included). Planes are independent, so
``prange`` over the N*C planes needs no locks: even the scatter-adds of the backward passes
stay inside one plane. ``divisor_override`` travels into the compiled loops as 0 for "none"
(PyTorch refuses a zero divisor, so 0 is free to mean that).
"""

import math

import numpy as np
from numba import njit, prange

from ..reference.pool import adaptive_window, pool_output_size


def _planes(a):
    """(N, C, H, W) -> (N*C, H, W), contiguous."""
    N, C, H, W = a.shape
    return np.ascontiguousarray(a).reshape(N * C, H, W)


@njit(cache=True)
def _first_tap(start, d):
    return start if start >= 0 else start + (-start + d - 1) // d * d


@njit(parallel=True, cache=True)
def _max_pool_planes(x, kH, kW, sH, sW, pH, pW, dH, dW, y, argmax):
    P, H, W = x.shape
    _, H_out, W_out = y.shape
    for plane in prange(P):
        for i in range(H_out):
            h0 = i * sH - pH
            for j in range(W_out):
                w0 = j * sW - pW
                best = -np.inf
                best_index = _first_tap(h0, dH) * W + _first_tap(w0, dW)
                for a in range(kH):
                    h = h0 + a * dH
                    if h < 0 or h >= H:
                        continue
                    for b in range(kW):
                        w = w0 + b * dW
                        if w < 0 or w >= W:
                            continue
                        v = x[plane, h, w]
                        # strictly greater: the first of equal maxima wins; NaN propagates
                        if v > best or math.isnan(v):
                            best = v
                            best_index = h * W + w
                y[plane, i, j] = best
                argmax[plane, i, j] = best_index


@njit(parallel=True, cache=True)
def _max_pool_2x2_planes(x, y, argmax):
    """The U-Net's pool (2x2, stride 2, no padding) with the window unrolled: the same four
    comparisons, in the same order, as _max_pool_planes, without its per-window bounds."""
    P, H, W = x.shape
    _, H_out, W_out = y.shape
    for plane in prange(P):
        for i in range(H_out):
            top, bottom = x[plane, 2 * i], x[plane, 2 * i + 1]
            y_row, argmax_row = y[plane, i], argmax[plane, i]
            for j in range(W_out):
                best, offset = top[2 * j], 0
                v = top[2 * j + 1]
                if v > best or math.isnan(v):
                    best, offset = v, 1
                v = bottom[2 * j]
                if v > best or math.isnan(v):
                    best, offset = v, W
                v = bottom[2 * j + 1]
                if v > best or math.isnan(v):
                    best, offset = v, W + 1
                y_row[j] = best
                argmax_row[j] = 2 * i * W + 2 * j + offset


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """y = max of each window, argmax = flat ``h * W + w`` of the first maximum (NaN wins)."""
    N, C, H, W = x.shape
    H_out = pool_output_size(H, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
    W_out = pool_output_size(W, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
    y = np.empty((N * C, H_out, W_out), dtype=x.dtype)
    argmax = np.empty((N * C, H_out, W_out), dtype=np.int64)
    plain_2x2 = (kernel_size == (2, 2) and stride == (2, 2) and padding == (0, 0)
                 and dilation == (1, 1) and 2 * H_out <= H and 2 * W_out <= W)
    if plain_2x2:  # (a ceil_mode window past an odd edge needs the general loop's bounds)
        _max_pool_2x2_planes(_planes(x), y, argmax)
    else:
        _max_pool_planes(_planes(x), *kernel_size, *stride, *padding, *dilation, y, argmax)
    return y.reshape(N, C, H_out, W_out), argmax.reshape(N, C, H_out, W_out)


@njit(parallel=True, cache=True)
def _max_pool_backward_planes(grad_y, argmax, grad_x):
    P, H_out, W_out = grad_y.shape
    for plane in prange(P):
        for i in range(H_out):
            for j in range(W_out):
                grad_x[plane, argmax[plane, i, j]] += grad_y[plane, i, j]


def max_pool2d_backward(grad_y, argmax, input_shape):
    """grad_x[argmax] += grad_y: only the winning pixel moved the output."""
    N, C, H, W = input_shape
    grad_x = np.zeros((N * C, H * W), dtype=grad_y.dtype)
    _max_pool_backward_planes(_planes(grad_y), _planes(argmax), grad_x)
    return grad_x.reshape(N, C, H, W)


@njit(cache=True)
def _avg_window(i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad, divisor_override):
    h0, w0 = i * sH - pH, j * sW - pW
    h1, w1 = min(h0 + kH, H + pH), min(w0 + kW, W + pW)   # clipped to the padded input
    padded_count = (h1 - h0) * (w1 - w0)
    h_lo, h_hi, w_lo, w_hi = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
    if divisor_override != 0:
        divisor = divisor_override
    elif count_include_pad:
        divisor = padded_count
    else:
        divisor = (h_hi - h_lo) * (w_hi - w_lo)
    return h_lo, h_hi, w_lo, w_hi, divisor


@njit(parallel=True, cache=True)
def _avg_pool_planes(x, kH, kW, sH, sW, pH, pW, count_include_pad, divisor_override, y):
    P, H, W = x.shape
    _, H_out, W_out = y.shape
    for plane in prange(P):
        for i in range(H_out):
            for j in range(W_out):
                h_lo, h_hi, w_lo, w_hi, divisor = _avg_window(
                    i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad, divisor_override)
                total = 0.0
                for h in range(h_lo, h_hi):
                    for w in range(w_lo, w_hi):
                        total += x[plane, h, w]
                y[plane, i, j] = total / divisor


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    """y = (sum of the window's real pixels) / divisor (see the reference for the divisor)."""
    N, C, H, W = x.shape
    H_out = pool_output_size(H, kernel_size[0], stride[0], padding[0], 1, ceil_mode)
    W_out = pool_output_size(W, kernel_size[1], stride[1], padding[1], 1, ceil_mode)
    y = np.empty((N * C, H_out, W_out), dtype=x.dtype)
    _avg_pool_planes(_planes(x), *kernel_size, *stride, *padding, bool(count_include_pad),
                     int(divisor_override or 0), y)
    return y.reshape(N, C, H_out, W_out)


@njit(parallel=True, cache=True)
def _avg_pool_backward_planes(grad_y, kH, kW, sH, sW, pH, pW, count_include_pad,
                              divisor_override, grad_x):
    P, H, W = grad_x.shape
    _, H_out, W_out = grad_y.shape
    for plane in prange(P):
        for i in range(H_out):
            for j in range(W_out):
                h_lo, h_hi, w_lo, w_hi, divisor = _avg_window(
                    i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad, divisor_override)
                share = grad_y[plane, i, j] / divisor
                for h in range(h_lo, h_hi):
                    for w in range(w_lo, w_hi):
                        grad_x[plane, h, w] += share


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding, count_include_pad,
                        divisor_override):
    """grad_x[h, w] += grad_y[i, j] / divisor for every window (i, j) holding pixel (h, w)."""
    N, C, H, W = input_shape
    grad_x = np.zeros((N * C, H, W), dtype=grad_y.dtype)
    _avg_pool_backward_planes(_planes(grad_y), *kernel_size, *stride, *padding,
                              bool(count_include_pad), int(divisor_override or 0), grad_x)
    return grad_x.reshape(N, C, H, W)


def _adaptive_tables(size, out_size):
    """(lo, hi) arrays: output i averages input rows lo[i] .. hi[i] - 1."""
    bounds = [adaptive_window(i, size, out_size) for i in range(out_size)]
    return (np.array([b[0] for b in bounds], dtype=np.int64),
            np.array([b[1] for b in bounds], dtype=np.int64))


@njit(parallel=True, cache=True)
def _adaptive_avg_planes(x, h_lo, h_hi, w_lo, w_hi, y):
    for plane in prange(x.shape[0]):
        for i in range(h_lo.shape[0]):
            for j in range(w_lo.shape[0]):
                total = 0.0
                for h in range(h_lo[i], h_hi[i]):
                    for w in range(w_lo[j], w_hi[j]):
                        total += x[plane, h, w]
                y[plane, i, j] = total / ((h_hi[i] - h_lo[i]) * (w_hi[j] - w_lo[j]))


@njit(parallel=True, cache=True)
def _adaptive_avg_backward_planes(grad_y, h_lo, h_hi, w_lo, w_hi, grad_x):
    for plane in prange(grad_y.shape[0]):
        for i in range(h_lo.shape[0]):
            for j in range(w_lo.shape[0]):
                share = grad_y[plane, i, j] / ((h_hi[i] - h_lo[i]) * (w_hi[j] - w_lo[j]))
                for h in range(h_lo[i], h_hi[i]):
                    for w in range(w_lo[j], w_hi[j]):
                        grad_x[plane, h, w] += share


def adaptive_avg_pool2d(x, out_size):
    """y[i, j] = mean of x over rows floor(iH/H_out)..ceil((i+1)H/H_out) - 1, likewise columns."""
    N, C, H, W = x.shape
    y = np.empty((N * C, *out_size), dtype=x.dtype)
    _adaptive_avg_planes(_planes(x), *_adaptive_tables(H, out_size[0]),
                         *_adaptive_tables(W, out_size[1]), y)
    return y.reshape(N, C, *out_size)


def adaptive_avg_pool2d_backward(grad_y, input_shape):
    """grad_x[h, w] += grad_y[i, j] / (window size) for every window (i, j) holding (h, w)."""
    N, C, H, W = input_shape
    grad_x = np.zeros((N * C, H, W), dtype=grad_y.dtype)
    _adaptive_avg_backward_planes(_planes(grad_y), *_adaptive_tables(H, grad_y.shape[2]),
                                  *_adaptive_tables(W, grad_y.shape[3]), grad_x)
    return grad_x.reshape(input_shape)
