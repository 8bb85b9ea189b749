"""3-D max pooling on the GPU: one thread per output voxel forward, per output backward.

Same formulas, output size and tie rule as ``tinyunet.kernels.reference.pool3d`` (read that
file for the math); the arrays are viewed as N*C independent volumes. The backward scatters
each output's gradient to its argmax with ``cuda.atomic.add``, as ``cuda/pool.py`` does in
2-D: exact for the U-Net's non-overlapping 2x2x2 windows; with overlapping windows the
additions into one voxel come in an unspecified order (the last bit may differ run to run).
"""

from __future__ import annotations

import math

from numba import cuda

from ...backend import get_array_module
from ..reference.pool import pool_output_size
from ._launch import launch


@cuda.jit(device=True)
def _taps(o, s, p, k, d, size):
    """The in-range taps of window o along one axis: (first, stop) for range(first, stop, d)."""
    lo = o * s - p
    hi = min(lo + (k - 1) * d + 1, size)
    while lo < 0:
        lo += d
    return lo, hi


@cuda.jit(cache=True)
def _max_pool(x, kD, kH, kW, sD, sH, sW, pD, pH, pW, dD, dH, dW, y, argmax):
    """y[v, od, oh, ow] = max of the window, argmax its flat index: a thread per output."""
    V, D, H, W = x.shape
    _, D_out, H_out, W_out = y.shape
    for item in range(cuda.grid(1), V * D_out * H_out * W_out, cuda.gridsize(1)):
        v, od = item // (D_out * H_out * W_out), (item // (H_out * W_out)) % D_out
        oh, ow = (item // W_out) % H_out, item % W_out
        d_lo, d_hi = _taps(od, sD, pD, kD, dD, D)
        h_lo, h_hi = _taps(oh, sH, pH, kH, dH, H)
        w_lo, w_hi = _taps(ow, sW, pW, kW, dW, W)
        best = -math.inf
        best_index = (d_lo * H + h_lo) * W + w_lo
        for d in range(d_lo, d_hi, dD):
            for h in range(h_lo, h_hi, dH):
                for w in range(w_lo, w_hi, dW):
                    value = x[v, d, h, w]
                    if value > best or math.isnan(value):  # first maximum wins; NaN wins
                        best = value
                        best_index = (d * H + h) * W + w
        y[v, od, oh, ow] = best
        argmax[v, od, oh, ow] = best_index


def max_pool3d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """(y, argmax): the max of each window and the flat d*H*W + h*W + w of its first maximum."""
    xp = get_array_module(x)
    N, C, D, H, W = x.shape
    out = [pool_output_size(n, *a, ceil_mode)
           for n, *a in zip((D, H, W), kernel_size, stride, padding, dilation)]
    y = xp.empty((N * C, *out), dtype=x.dtype)
    argmax = xp.empty((N * C, *out), dtype=xp.int64)
    volumes = xp.ascontiguousarray(x).reshape(N * C, D, H, W)
    launch(_max_pool, y.size, volumes, *kernel_size, *stride, *padding, *dilation, y, argmax)
    return y.reshape(N, C, *out), argmax.reshape(N, C, *out)


@cuda.jit(cache=True)
def _max_pool_backward(grad_y, argmax, grad_x):
    """grad_x[v, argmax] += grad_y: a thread per output, atomic (windows may share a winner)."""
    V, P = grad_y.shape
    for item in range(cuda.grid(1), V * P, cuda.gridsize(1)):
        v, i = item // P, item % P
        cuda.atomic.add(grad_x, (v, argmax[v, i]), grad_y[v, i])


def max_pool3d_backward(grad_y, argmax, input_shape):
    """grad_x[argmax] += grad_y: only the winning voxel moved the output."""
    xp = get_array_module(grad_y)
    N, C = input_shape[:2]
    V = N * C
    grad_x = xp.zeros((V, math.prod(input_shape[2:])), dtype=grad_y.dtype)
    launch(_max_pool_backward, grad_y.size, xp.ascontiguousarray(grad_y).reshape(V, -1),
           xp.ascontiguousarray(argmax).reshape(V, -1), grad_x)
    return grad_x.reshape(input_shape)
