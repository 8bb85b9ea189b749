"""Upsampling, as plain loops: every output pixel reads one (nearest) or four (bilinear) input
pixels found by mapping its coordinate back into the input.

The 2-D maps are separable -- output row i reads input rows that depend only on i, output
column j input columns that depend only on j -- so each axis gets its own small table and the
loops just look up the tables. ``scale`` is the input/output size ratio along one axis (or
1 / scale_factor when the user gave one), chosen by the op layer exactly as PyTorch does
(see ``tinyunet.ops.interpolate``).

nearest    src = min(floor(dst * scale), in - 1), computed in float32 as PyTorch does.
bilinear   align_corners=False (pixels are unit squares, centres at +0.5):
               src = max((dst + 0.5) * scale - 0.5, 0)
           align_corners=True (corner pixels' centres coincide):
               src = dst * (in - 1) / (out - 1)             (0 when out == 1)
           then y = (1 - l) * x[floor(src)] + l * x[floor(src) + 1], l = src - floor(src),
           along rows and then columns (the neighbour is clamped to the last pixel).

Backward: each output's gradient is added back to the input pixels it read, with the same
weights (1 for nearest, the four bilinear weights for bilinear).
"""

import math

import numpy as np


def _nearest_sources(in_size, out_size, scale):
    """src[dst] for one axis, bit-for-bit PyTorch's ``nearest_idx``."""
    scale = np.float32(scale)                  # PyTorch computes this index in float32
    return [min(int(math.floor(np.float32(dst) * scale)), in_size - 1)
            for dst in range(out_size)]


def _linear_sources(in_size, out_size, align_corners, scale):
    """(i0, i1, l0, l1) per output index: y[dst] = l0 * x[i0] + l1 * x[i1]."""
    table = []
    for dst in range(out_size):
        if align_corners:
            src = dst * (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        else:
            src = max((dst + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(math.floor(src)), in_size - 1)
        i1 = min(i0 + 1, in_size - 1)
        l1 = min(max(src - i0, 0.0), 1.0)
        table.append((i0, i1, 1.0 - l1, l1))
    return table


# BEGIN SOLUTION task=3.2 hint="look the source rows and columns up in the tables above"
def upsample_nearest2d(x, out_size, scales):
    """y[n, c, i, j] = x[n, c, src_h[i], src_w[j]]."""
    N, C, H, W = x.shape
    H_out, W_out = out_size
    rows = _nearest_sources(H, H_out, scales[0])
    cols = _nearest_sources(W, W_out, scales[1])
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    y[n, c, i, j] = x[n, c, rows[i], cols[j]]
    return y


def upsample_nearest2d_backward(grad_y, input_shape, scales):
    """grad_x[src_h[i], src_w[j]] += grad_y[i, j]."""
    N, C, H, W = input_shape
    _, _, H_out, W_out = grad_y.shape
    rows = _nearest_sources(H, H_out, scales[0])
    cols = _nearest_sources(W, W_out, scales[1])
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    grad_x[n, c, rows[i], cols[j]] += grad_y[n, c, i, j]
    return grad_x


def upsample_bilinear2d(x, out_size, align_corners, scales):
    """y[i, j] = sum over the 2 x 2 neighbours of (row weight) * (column weight) * x."""
    N, C, H, W = x.shape
    H_out, W_out = out_size
    rows = _linear_sources(H, H_out, align_corners, scales[0])
    cols = _linear_sources(W, W_out, align_corners, scales[1])
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                h0, h1, a0, a1 = rows[i]
                for j in range(W_out):
                    w0, w1, b0, b1 = cols[j]
                    y[n, c, i, j] = (a0 * (b0 * x[n, c, h0, w0] + b1 * x[n, c, h0, w1])
                                     + a1 * (b0 * x[n, c, h1, w0] + b1 * x[n, c, h1, w1]))
    return y


def upsample_bilinear2d_backward(grad_y, input_shape, align_corners, scales):
    """Each grad_y[i, j] is added to its four neighbours, times their bilinear weights."""
    N, C, H, W = input_shape
    _, _, H_out, W_out = grad_y.shape
    rows = _linear_sources(H, H_out, align_corners, scales[0])
    cols = _linear_sources(W, W_out, align_corners, scales[1])
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                h0, h1, a0, a1 = rows[i]
                for j in range(W_out):
                    w0, w1, b0, b1 = cols[j]
                    g = grad_y[n, c, i, j]
                    grad_x[n, c, h0, w0] += a0 * b0 * g
                    grad_x[n, c, h0, w1] += a0 * b1 * g
                    grad_x[n, c, h1, w0] += a1 * b0 * g
                    grad_x[n, c, h1, w1] += a1 * b1 * g
    return grad_x
# END SOLUTION
