"""3-D max pooling, as plain loops: one output voxel is the largest of one window.

Along each axis the window of output position o starts at ``o*s - p`` and reads every d-th
voxel (d = dilation) k times; voxels outside the input are padding, -inf, which never wins.
The output size per axis is the number of windows that start inside the (padded) input::

    out = (size + 2p - d(k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1

and, with ``ceil_mode``, one fewer when the last window would start past ``size + p`` (in the
right padding only): PyTorch's rule, so a window always holds a real voxel. It is the
2-D pooling's count of windows, per axis (``pool.pool_output_size``).

    y[n, c, od, oh, ow] = max over the window
    argmax               = flat index  d*H*W + h*W + w  of that maximum in its (D, H, W) volume

Backward: grad_x[argmax] += grad_y, the winner takes the gradient (added up where windows
overlap).
"""

from __future__ import annotations

import math

import numpy as np

from .pool import pool_output_size


def _taps(o, size, k, s, p, d):
    """The in-range positions of window o along one axis: range(lo, hi, d)."""
    lo = o * s - p
    hi = min(lo + (k - 1) * d + 1, size)
    while lo < 0:
        lo += d
    return range(lo, hi, d)


def max_pool3d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """(y, argmax): the max of each window and its flat index in the (D, H, W) volume.

    Tie rule (PyTorch's CPU rule): the window is scanned in (d, h, w) order and a value
    replaces the running maximum only if strictly greater -- so the *first* of equal maxima
    wins -- or if it is NaN, so a NaN propagates.
    """
    # BEGIN SOLUTION task=3.1 extension=3d
    N, C, *size = x.shape
    D, H, W = size
    out = [pool_output_size(n, *a, ceil_mode)
           for n, *a in zip(size, kernel_size, stride, padding, dilation)]
    y = np.empty((N, C, *out), dtype=x.dtype)
    argmax = np.empty((N, C, *out), dtype=np.int64)
    axes = list(zip(size, kernel_size, stride, padding, dilation))
    for n in range(N):
        for c in range(C):
            for od in range(out[0]):
                for oh in range(out[1]):
                    for ow in range(out[2]):
                        depths, rows, cols = (_taps(o, *a) for o, a in zip((od, oh, ow), axes))
                        best = -math.inf
                        best_index = depths.start * H * W + rows.start * W + cols.start
                        for d in depths:
                            for h in rows:
                                for w in cols:
                                    v = x[n, c, d, h, w]
                                    if v > best or math.isnan(v):
                                        best, best_index = v, (d * H + h) * W + w
                        y[n, c, od, oh, ow] = best
                        argmax[n, c, od, oh, ow] = best_index
    return y, argmax
    # END SOLUTION


def max_pool3d_backward(grad_y, argmax, input_shape):
    """grad_x[argmax] += grad_y: only the winning voxel moved the output."""
    # BEGIN SOLUTION task=3.1 extension=3d
    N, C = input_shape[:2]
    grad_x = np.zeros((N, C, math.prod(input_shape[2:])), dtype=grad_y.dtype)
    D_out, H_out, W_out = grad_y.shape[2:]
    for n in range(N):
        for c in range(C):
            for od in range(D_out):
                for oh in range(H_out):
                    for ow in range(W_out):
                        grad_x[n, c, argmax[n, c, od, oh, ow]] += grad_y[n, c, od, oh, ow]
    return grad_x.reshape(input_shape)
    # END SOLUTION
