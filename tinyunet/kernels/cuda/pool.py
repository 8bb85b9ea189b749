"""Pooling on the GPU: one thread per output pixel forward, per input pixel backward.

Same formulas and tie rule as ``tinyunet.kernels.reference.pool`` (read that file for the
math). The arrays are viewed as a stack of N*C independent planes.

Backward passes must add where windows overlap, and two threads adding into one element at
once would lose an update. Two ways round that, one per op:

* avg pooling *gathers*: one thread per input pixel (h, w) visits the windows that contain it
  -- rows i with i*s_H - p_H <= h < i*s_H - p_H + k_H, likewise columns -- and sums their
  shares. Each element has one writer, so the result is exact and repeatable.
* max pooling cannot gather: its backward receives only the argmax, not the window geometry,
  and scanning every output for each input pixel would be quadratic. It *scatters* with
  ``cuda.atomic.add``, one thread per output. With non-overlapping windows (the U-Net's 2x2,
  stride 2) each input pixel receives at most one gradient, so it is still exact; with
  overlapping windows the additions into one pixel happen in an unspecified order, which can
  change the last bit of a float sum from run to run.
"""

from __future__ import annotations

import math

from numba import cuda

from ...backend import get_array_module
from ._launch import launch


def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _planes(a):
    """(N, C, H, W) -> (N*C, H, W), contiguous."""
    N, C, H, W = a.shape
    return get_array_module(a).ascontiguousarray(a).reshape(N * C, H, W)


@cuda.jit(cache=True)
def _max_pool(x, kH, kW, sH, sW, pH, pW, y, argmax):
    """y[plane, i, j] = max of the window, argmax its flat index h*W + w: a thread per output."""
    P, H, W = x.shape
    _, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        h0, w0 = i * sH - pH, j * sW - pW
        h_lo, h_hi = max(h0, 0), min(h0 + kH, H)
        w_lo, w_hi = max(w0, 0), min(w0 + kW, W)
        best = -math.inf
        best_index = h_lo * W + w_lo
        for h in range(h_lo, h_hi):
            for w in range(w_lo, w_hi):
                v = x[plane, h, w]
                if v > best or math.isnan(v):  # first of equal maxima wins; NaN propagates
                    best = v
                    best_index = h * W + w
        y[plane, i, j] = best
        argmax[plane, i, j] = best_index


def max_pool2d(x, kernel_size, stride, padding):
    """y = max of each window, argmax = flat ``h * W + w`` of the first maximum (NaN wins)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    H_out = _out_size(H, kernel_size[0], stride[0], padding[0])
    W_out = _out_size(W, kernel_size[1], stride[1], padding[1])
    y = xp.empty((N * C, H_out, W_out), dtype=x.dtype)
    argmax = xp.empty((N * C, H_out, W_out), dtype=xp.int64)
    launch(_max_pool, y.size, _planes(x), *kernel_size, *stride, *padding, y, argmax)
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
def _avg_window(i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad):
    """The clipped window (h_lo, h_hi, w_lo, w_hi) of output (i, j) and its divisor."""
    h0, w0 = i * sH - pH, j * sW - pW
    h_lo, h_hi, w_lo, w_hi = max(h0, 0), min(h0 + kH, H), max(w0, 0), min(w0 + kW, W)
    if count_include_pad:  # without ceil_mode no window reaches past the padding
        return h_lo, h_hi, w_lo, w_hi, kH * kW
    return h_lo, h_hi, w_lo, w_hi, (h_hi - h_lo) * (w_hi - w_lo)


@cuda.jit(cache=True)
def _avg_pool(x, kH, kW, sH, sW, pH, pW, count_include_pad, y):
    """y[plane, i, j] = (sum of the window's real pixels) / divisor: a thread per output."""
    P, H, W = x.shape
    _, H_out, W_out = y.shape
    for item in range(cuda.grid(1), P * H_out * W_out, cuda.gridsize(1)):
        plane, i, j = item // (H_out * W_out), (item // W_out) % H_out, item % W_out
        h_lo, h_hi, w_lo, w_hi, divisor = _avg_window(
            i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad)
        total = 0.0
        for h in range(h_lo, h_hi):
            for w in range(w_lo, w_hi):
                total += x[plane, h, w]
        y[plane, i, j] = total / divisor


def avg_pool2d(x, kernel_size, stride, padding, count_include_pad):
    """y = (sum of the window's real pixels) / divisor (k_H k_W if count_include_pad)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    H_out = _out_size(H, kernel_size[0], stride[0], padding[0])
    W_out = _out_size(W, kernel_size[1], stride[1], padding[1])
    y = xp.empty((N * C, H_out, W_out), dtype=x.dtype)
    launch(_avg_pool, y.size, _planes(x), *kernel_size, *stride, *padding,
           bool(count_include_pad), y)
    return y.reshape(N, C, H_out, W_out)


@cuda.jit(cache=True)
def _avg_pool_backward(grad_y, kH, kW, sH, sW, pH, pW, count_include_pad, grad_x):
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
                divisor = _avg_window(i, j, H, W, kH, kW, sH, sW, pH, pW, count_include_pad)[4]
                total += grad_y[plane, i, j] / divisor
        grad_x[plane, h, w] = total


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding, count_include_pad):
    """grad_x[h, w] += grad_y[i, j] / divisor for every window (i, j) holding pixel (h, w)."""
    xp = get_array_module(grad_y)
    N, C, H, W = input_shape
    grad_x = xp.empty((N * C, H, W), dtype=grad_y.dtype)
    launch(_avg_pool_backward, grad_x.size, _planes(grad_y), *kernel_size, *stride, *padding,
           bool(count_include_pad), grad_x)
    return grad_x.reshape(N, C, H, W)
