"""3-D max pooling, fast: the reference loops compiled by numba, one thread per (n, c) volume.

Same formulas and the same tie rule as ``tinyunet.kernels.reference.pool3d`` (read that file
for the math; the output size comes from there too). Volumes are independent, so ``prange``
over the N*C volumes needs no locks: even the backward's scatter-add stays inside one volume.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..reference.pool import pool_output_size


@njit(nogil=True, cache=True)
def _first(o, s, p, d):
    """The first in-range tap of window o along one axis (the reference's ``_taps``)."""
    lo = o * s - p
    while lo < 0:
        lo += d
    return lo


@njit(parallel=True, cache=True)
def _max_pool_volumes(x, kD, kH, kW, sD, sH, sW, pD, pH, pW, dD, dH, dW, y, argmax):
    V, D, H, W = x.shape
    _, D_out, H_out, W_out = y.shape
    for v in prange(V):
        for od in range(D_out):
            d_lo = _first(od, sD, pD, dD)
            d_hi = min(od * sD - pD + (kD - 1) * dD + 1, D)
            for oh in range(H_out):
                h_lo = _first(oh, sH, pH, dH)
                h_hi = min(oh * sH - pH + (kH - 1) * dH + 1, H)
                for ow in range(W_out):
                    w_lo = _first(ow, sW, pW, dW)
                    w_hi = min(ow * sW - pW + (kW - 1) * dW + 1, W)
                    best = -np.inf
                    best_index = (d_lo * H + h_lo) * W + w_lo
                    for d in range(d_lo, d_hi, dD):
                        for h in range(h_lo, h_hi, dH):
                            for w in range(w_lo, w_hi, dW):
                                value = x[v, d, h, w]
                                # strictly greater: the first of equal maxima wins; NaN wins
                                if value > best or math.isnan(value):
                                    best = value
                                    best_index = (d * H + h) * W + w
                    y[v, od, oh, ow] = best
                    argmax[v, od, oh, ow] = best_index


@njit(parallel=True, cache=True)
def _max_pool_2x2x2_volumes(x, y, argmax):
    """The 3-D U-Net's pool (2x2x2, stride 2, no padding) with the window unrolled: the same
    eight comparisons, in the same (d, h, w) order, as _max_pool_volumes."""
    V, D, H, W = x.shape
    _, D_out, H_out, W_out = y.shape
    for v in prange(V):
        for od in range(D_out):
            for oh in range(H_out):
                y_row, argmax_row = y[v, od, oh], argmax[v, od, oh]
                base = (2 * od * H + 2 * oh) * W
                rows = (x[v, 2 * od, 2 * oh], x[v, 2 * od, 2 * oh + 1],
                        x[v, 2 * od + 1, 2 * oh], x[v, 2 * od + 1, 2 * oh + 1])
                offsets = (0, W, H * W, H * W + W)
                for ow in range(W_out):
                    best, index = rows[0][2 * ow], 0
                    for r in range(4):
                        for t in range(2):
                            value = rows[r][2 * ow + t]
                            if value > best or math.isnan(value):
                                best, index = value, offsets[r] + t
                    y_row[ow] = best
                    argmax_row[ow] = base + 2 * ow + index


def max_pool3d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """(y, argmax): the max of each window, and the flat d*H*W + h*W + w of its first
    maximum (a NaN wins)."""
    N, C, D, H, W = x.shape
    out = [pool_output_size(n, *a, ceil_mode)
           for n, *a in zip((D, H, W), kernel_size, stride, padding, dilation)]
    y = np.empty((N * C, *out), dtype=x.dtype)
    argmax = np.empty((N * C, *out), dtype=np.int64)
    volumes = np.ascontiguousarray(x).reshape(N * C, D, H, W)
    unet_pool = kernel_size == stride == (2, 2, 2) and padding == (0, 0, 0)
    if unet_pool and dilation == (1, 1, 1) and out == [D // 2, H // 2, W // 2]:
        _max_pool_2x2x2_volumes(volumes, y, argmax)
    else:
        _max_pool_volumes(volumes, *kernel_size, *stride, *padding, *dilation, y, argmax)
    return y.reshape(N, C, *out), argmax.reshape(N, C, *out)


@njit(parallel=True, cache=True)
def _max_pool_backward_volumes(grad_y, argmax, grad_x):
    V, P = grad_y.shape
    for v in prange(V):
        for i in range(P):
            grad_x[v, argmax[v, i]] += grad_y[v, i]


def max_pool3d_backward(grad_y, argmax, input_shape):
    """grad_x[argmax] += grad_y: only the winning voxel moved the output."""
    N, C = input_shape[:2]
    V = N * C
    grad_x = np.zeros((V, math.prod(input_shape[2:])), dtype=grad_y.dtype)
    _max_pool_backward_volumes(np.ascontiguousarray(grad_y).reshape(V, -1),
                               np.ascontiguousarray(argmax).reshape(V, -1), grad_x)
    return grad_x.reshape(input_shape)
