"""Upsampling, as plain loops: every output pixel reads one (nearest), four (bilinear) or
sixteen (bicubic) input pixels found by mapping its coordinate back into the input.

The 2-D maps are separable -- output row i reads input rows that depend only on i, output
column j input columns that depend only on j -- so each axis gets its own small table and the
loops just look up the tables. ``scale`` is the input/output size ratio along one axis (or
1 / scale_factor when the user gave one), chosen by the op layer exactly as PyTorch does
(see ``tinyunet.ops.interpolate``).

nearest    src = min(floor(dst * scale), in - 1), computed in float32 as PyTorch does.
nearest-exact (``exact=True``): src = min(floor((dst + 0.5) * scale), in - 1): the output
           pixel's *centre* picks its source, so shrinking by 2 reads pixels 1, 3, 5, ...
           instead of 0, 2, 4, ... (the centred choice of Pillow and scipy.ndimage.zoom).
bilinear   align_corners=False (pixels are unit squares, centres at +0.5):
               src = max((dst + 0.5) * scale - 0.5, 0)
           align_corners=True (corner pixels' centres coincide):
               src = dst * (in - 1) / (out - 1)             (0 when out == 1)
           then y = (1 - l) * x[floor(src)] + l * x[floor(src) + 1], l = src - floor(src),
           along rows and then columns (the neighbour is clamped to the last pixel).
bicubic    the same src, but not clamped at 0 (align_corners=False); with f = floor(src) and
           t = src - f the four rows f-1 .. f+2 (each clamped into the input) are blended by
           Keys' cubic convolution with a = -0.75 (PyTorch's choice):
               w = [K(t + 1), K(t), K(1 - t), K(2 - t)]
               K(d) = (a + 2)|d|^3 - (a + 3)|d|^2 + 1           for |d| <= 1
               K(d) = a|d|^3 - 5a|d|^2 + 8a|d| - 4a              for 1 < |d| < 2
           The weights sum to 1 and may be negative (the kernel's small lobes sharpen edges,
           and overshoot them). PyTorch copies no axis for bicubic, even an unchanged one.

Backward: each output's gradient is added back to the input pixels it read, with the same
weights (1 for nearest, the four bilinear weights, the sixteen bicubic ones).
"""

import math

import numpy as np


def _nearest_sources(in_size, out_size, scale, exact):
    """src[dst] for one axis, bit-for-bit PyTorch's ``nearest_idx`` / ``nearest_exact_idx``."""
    scale = np.float32(scale)                  # PyTorch keeps this scale in float32
    if exact:  # (dst + 0.5) * scale in double, rounded to float32, then floored
        return [min(int(math.floor(np.float32((dst + 0.5) * float(scale)))), in_size - 1)
                for dst in range(out_size)]
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


CUBIC_A = -0.75  # the free parameter of Keys' kernel, as PyTorch sets it


def _keys(d):
    """Keys' cubic convolution kernel K(d) (see the module docstring)."""
    d, a = abs(d), CUBIC_A
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a if d < 2 else 0.0


def _cubic_sources(in_size, out_size, align_corners, scale):
    """([f-1, f, f+1, f+2] clamped, their four weights) per output index."""
    table = []
    for dst in range(out_size):
        if align_corners:
            src = dst * (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        else:
            src = (dst + 0.5) * scale - 0.5     # not clamped at 0: the taps are
        f = math.floor(src)
        t = src - f
        taps = [min(max(f - 1 + k, 0), in_size - 1) for k in range(4)]
        table.append((taps, [_keys(t + 1), _keys(t), _keys(1 - t), _keys(2 - t)]))
    return table


# BEGIN SOLUTION task=3.2 hint="look the source rows and columns up in the tables above"
def upsample_nearest2d(x, out_size, scales, exact):
    """y[n, c, i, j] = x[n, c, src_h[i], src_w[j]]."""
    N, C, H, W = x.shape
    H_out, W_out = out_size
    rows = _nearest_sources(H, H_out, scales[0], exact)
    cols = _nearest_sources(W, W_out, scales[1], exact)
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    y[n, c, i, j] = x[n, c, rows[i], cols[j]]
    return y


def upsample_nearest2d_backward(grad_y, input_shape, scales, exact):
    """grad_x[src_h[i], src_w[j]] += grad_y[i, j]."""
    N, C, H, W = input_shape
    _, _, H_out, W_out = grad_y.shape
    rows = _nearest_sources(H, H_out, scales[0], exact)
    cols = _nearest_sources(W, W_out, scales[1], exact)
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


def upsample_bicubic2d(x, out_size, align_corners, scales):
    """y[i, j] = sum over the 4 x 4 taps of (row weight) * (column weight) * x."""
    N, C, H, W = x.shape
    H_out, W_out = out_size
    rows = _cubic_sources(H, H_out, align_corners, scales[0])
    cols = _cubic_sources(W, W_out, align_corners, scales[1])
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                hs, a = rows[i]
                for j in range(W_out):
                    ws, b = cols[j]
                    y[n, c, i, j] = sum(a[p] * sum(b[q] * x[n, c, hs[p], ws[q]] for q in range(4))
                                        for p in range(4))
    return y


def upsample_bicubic2d_backward(grad_y, input_shape, align_corners, scales):
    """Each grad_y[i, j] is added to its sixteen taps, times their bicubic weights."""
    N, C, H, W = input_shape
    _, _, H_out, W_out = grad_y.shape
    rows = _cubic_sources(H, H_out, align_corners, scales[0])
    cols = _cubic_sources(W, W_out, align_corners, scales[1])
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                hs, a = rows[i]
                for j in range(W_out):
                    ws, b = cols[j]
                    for p in range(4):
                        for q in range(4):
                            grad_x[n, c, hs[p], ws[q]] += a[p] * b[q] * grad_y[n, c, i, j]
    return grad_x
