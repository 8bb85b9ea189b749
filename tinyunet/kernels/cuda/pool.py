"""Pooling on the GPU: one thread per output pixel forward, per input pixel backward.

Same formulas and tie rule as ``tinyunet.kernels.reference.pool`` (read that file for the
math, dilation and ceil_mode included). The arrays are viewed as a stack of N*C independent
planes; ``divisor_override`` reaches the device as 0 for "none", as in the numba set.

Backward passes must add where windows overlap, and two threads adding into one element at
once would lose an update. Two ways round that, one per op:

* avg pooling *gathers*: one thread per input pixel (h, w) visits the windows that contain it
  -- rows i with i*s_H - p_H <= h < i*s_H - p_H + k_H, likewise columns -- and sums their
  shares. Each element has one writer, so the result is exact and repeatable. Adaptive
  average pooling gathers too, over the run of windows that holds each row, found on the host
  (``_runs``: the windows' bounds never decrease, so the run is contiguous).
* max pooling cannot gather: its backward receives only the argmax, not the window geometry,
  and scanning every output for each input pixel would be quadratic. It *scatters* with
  ``cuda.atomic.add``, one thread per output. With non-overlapping windows (the U-Net's 2x2,
  stride 2) each input pixel receives at most one gradient, so it is still exact; with
  overlapping windows the additions into one pixel happen in an unspecified order, which can
  change the last bit of a float sum from run to run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...backend import get_array_module
from ..reference.pool import adaptive_window, pool_output_size
from ._launch import launch


def _planes(a):
    """(N, C, H, W) -> (N*C, H, W), contiguous."""
    N, C, H, W = a.shape
    return get_array_module(a).ascontiguousarray(a).reshape(N * C, H, W)


@cuda.jit(device=True)
def _first_tap(start, d):
    return start if start >= 0 else start + (-start + d - 1) // d * d


@cuda.jit(cache=True)
def _max_pool(x, kH, kW, sH, sW, pH, pW, dH, dW, y, argmax):
    """y[plane, i, j] = max of the window's taps, argmax its flat index h*W + w: a thread per
    output."""
    P, H, W = x.shape
    _, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        h0, w0 = i * sH - pH, j * sW - pW
        best = -math.inf
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
                if v > best or math.isnan(v):  # first of equal maxima wins; NaN propagates
                    best = v
                    best_index = h * W + w
        y[plane, i, j] = best
        argmax[plane, i, j] = best_index


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """y = max of each window, argmax = flat ``h * W + w`` of the first maximum (NaN wins)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    H_out = pool_output_size(H, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
    W_out = pool_output_size(W, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
    y = xp.empty((N * C, H_out, W_out), dtype=x.dtype)
    argmax = xp.empty((N * C, H_out, W_out), dtype=xp.int64)
    launch(_max_pool, y.size, _planes(x), *kernel_size, *stride, *padding, *dilation, y,
           argmax)
    return y.reshape(N, C, H_out, W_out), argmax.reshape(N, C, H_out, W_out)


@cuda.jit(cache=True)
def _max_pool_backward(grad_y, argmax, grad_x):
    """grad_x[plane, argmax] += grad_y: a thread per output, atomic because windows may share
    their winner (see the module docstring)."""
    P, H_out, W_out = grad_y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        cuda.atomic.add(grad_x, (plane, argmax[plane, i, j]), grad_y[plane, i, j])


def max_pool2d_backward(grad_y, argmax, input_shape):
    """grad_x[argmax] += grad_y: only the winning pixel moved the output."""
    xp = get_array_module(grad_y)
    N, C, H, W = input_shape
    grad_x = xp.zeros((N * C, H * W), dtype=grad_y.dtype)
    launch(_max_pool_backward, grad_y.size, _planes(grad_y), _planes(argmax), grad_x)
    return grad_x.reshape(N, C, H, W)


@cuda.jit(device=True)
def _avg_window(i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad, divisor_override):
    """The window (h_lo, h_hi, w_lo, w_hi) of output (i, j), clipped to the image, and its
    divisor (see the reference set)."""
    h0, w0 = i * sH - pH, j * sW - pW
    h1, w1 = min(h0 + kH, H + pH), min(w0 + kW, W + pW)   # clipped to the padded input
    h_lo, h_hi, w_lo, w_hi = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
    if divisor_override != 0:
        return h_lo, h_hi, w_lo, w_hi, divisor_override
    if count_include_pad:
        return h_lo, h_hi, w_lo, w_hi, (h1 - h0) * (w1 - w0)
    return h_lo, h_hi, w_lo, w_hi, (h_hi - h_lo) * (w_hi - w_lo)


@cuda.jit(cache=True)
def _avg_pool(x, kH, kW, sH, sW, pH, pW, count_include_pad, divisor_override, y):
    """y[plane, i, j] = (sum of the window's real pixels) / divisor: a thread per output."""
    P, H, W = x.shape
    _, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
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
    xp = get_array_module(x)
    N, C, H, W = x.shape
    H_out = pool_output_size(H, kernel_size[0], stride[0], padding[0], 1, ceil_mode)
    W_out = pool_output_size(W, kernel_size[1], stride[1], padding[1], 1, ceil_mode)
    y = xp.empty((N * C, H_out, W_out), dtype=x.dtype)
    launch(_avg_pool, y.size, _planes(x), *kernel_size, *stride, *padding,
           bool(count_include_pad), int(divisor_override or 0), y)
    return y.reshape(N, C, H_out, W_out)


@cuda.jit(cache=True)
def _avg_pool_backward(grad_y, kH, kW, sH, sW, pH, pW, count_include_pad, divisor_override,
                       grad_x):
    """grad_x[plane, h, w] = sum of grad_y / divisor over the windows holding (h, w): a thread
    per input pixel gathers, so nothing is written twice."""
    P, H, W = grad_x.shape
    _, H_out, W_out = grad_y.shape
    for item in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        plane, h, w = item // (H * W), (item // W) % H, item % W
        # windows i with i*sH - pH <= h <= i*sH - pH + kH - 1, i.e. i in [ceil(..), floor(..)]
        i_lo = max(-((kH - 1 - h - pH) // sH), 0)
        i_hi = min((h + pH) // sH, H_out - 1)
        j_lo = max(-((kW - 1 - w - pW) // sW), 0)
        j_hi = min((w + pW) // sW, W_out - 1)
        total = 0.0
        for i in range(i_lo, i_hi + 1):
            for j in range(j_lo, j_hi + 1):
                divisor = _avg_window(i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad,
                                      divisor_override)[4]
                total += grad_y[plane, i, j] / divisor
        grad_x[plane, h, w] = total


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding, count_include_pad,
                        divisor_override):
    """grad_x[h, w] += grad_y[i, j] / divisor for every window (i, j) holding pixel (h, w)."""
    xp = get_array_module(grad_y)
    N, C, H, W = input_shape
    grad_x = xp.empty((N * C, H, W), dtype=grad_y.dtype)
    launch(_avg_pool_backward, grad_x.size, _planes(grad_y), *kernel_size, *stride, *padding,
           bool(count_include_pad), int(divisor_override or 0), grad_x)
    return grad_x.reshape(N, C, H, W)


# ----- adaptive average pooling (interpolate's mode="area") -------------------------------------


def _adaptive_tables(xp, size, out_size):
    """Device arrays (lo, hi, run_lo, run_hi): output i averages rows lo[i] .. hi[i] - 1, and
    input row h lies in the windows run_lo[h] .. run_hi[h] - 1."""
    lo, hi = (np.array(b, dtype=np.int64)
              for b in zip(*(adaptive_window(i, size, out_size) for i in range(out_size))))
    rows = np.arange(size)
    run_lo = np.searchsorted(hi, rows, side="right")   # first window ending after row h
    run_hi = np.searchsorted(lo, rows, side="right")   # past the last window starting <= h
    return tuple(xp.asarray(t) for t in (lo, hi, run_lo, run_hi))


@cuda.jit(cache=True)
def _adaptive_avg(x, h_lo, h_hi, w_lo, w_hi, y):
    """y[plane, i, j] = mean over the adaptive window: a thread per output."""
    P, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        total = 0.0
        for h in range(h_lo[i], h_hi[i]):
            for w in range(w_lo[j], w_hi[j]):
                total += x[plane, h, w]
        y[plane, i, j] = total / ((h_hi[i] - h_lo[i]) * (w_hi[j] - w_lo[j]))


@cuda.jit(cache=True)
def _adaptive_avg_backward(grad_y, h_lo, h_hi, h_run_lo, h_run_hi, w_lo, w_hi, w_run_lo,
                           w_run_hi, grad_x):
    """grad_x[plane, h, w] = sum of grad_y / (window size) over the windows holding (h, w)."""
    P, H, W = grad_x.shape
    for item in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        plane, h, w = item // (H * W), (item // W) % H, item % W
        total = 0.0
        for i in range(h_run_lo[h], h_run_hi[h]):
            for j in range(w_run_lo[w], w_run_hi[w]):
                total += grad_y[plane, i, j] / ((h_hi[i] - h_lo[i]) * (w_hi[j] - w_lo[j]))
        grad_x[plane, h, w] = total


def adaptive_avg_pool2d(x, out_size):
    """y[i, j] = mean of x over rows floor(iH/H_out)..ceil((i+1)H/H_out) - 1, likewise columns."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    rows, cols = _adaptive_tables(xp, H, out_size[0]), _adaptive_tables(xp, W, out_size[1])
    y = xp.empty((N * C, *out_size), dtype=x.dtype)
    launch(_adaptive_avg, y.size, _planes(x), *rows[:2], *cols[:2], y)
    return y.reshape(N, C, *out_size)


def adaptive_avg_pool2d_backward(grad_y, input_shape):
    """grad_x[h, w] += grad_y[i, j] / (window size) for every window (i, j) holding (h, w)."""
    xp = get_array_module(grad_y)
    N, C, H, W = input_shape
    rows = _adaptive_tables(xp, H, grad_y.shape[2])
    cols = _adaptive_tables(xp, W, grad_y.shape[3])
    grad_x = xp.empty((N * C, H, W), dtype=grad_y.dtype)
    launch(_adaptive_avg_backward, grad_x.size, _planes(grad_y), *rows, *cols, grad_x)
    return grad_x.reshape(input_shape)
