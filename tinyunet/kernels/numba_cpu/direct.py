"""The direct 3x3 convolution: shifted views of a padded plane, four output channels a pass.

For 16 or 32 channels on 64-128 pixel images, im2col would write 9 copies of the input and
the thin matmul would then wait on memory. The direct kernel reads a zero-padded copy of the
input instead. Flattened, with padded row width Wp, output (oh, ow) sits at j = oh*Wp + ow and
the tap (kh, kw) reads the input at j + kh*d*Wp + kw*d: every tap is one contiguous, shifted
view of a whole input plane::

    y[co, j] += w[co, ci, kh, kw] * xp[ci, kh*d*Wp + kw*d + j]      for all j at once

(the columns that wrap around a row edge are computed and dropped). ``_conv3`` does four
output channels and the three taps of a kernel row per pass, 12 multiply-adds per input value
loaded, in blocks that stay in L1. The weight gradient is a dot product of two such views per
weight (``_conv3_grad_weight``). conv.py decides where this kernel runs (``fits`` says where
it can).
"""

from __future__ import annotations

import numpy as np

from ...threads import parallel_for
from .layout import channel_ranges, channel_splits, kernel, pad, sample_channels, workspace

# Reorder float sums (to vectorise reductions) and fuse multiply-adds; unlike fastmath=True
# this keeps NaN and inf semantics, so they still propagate as in PyTorch.
_FAST = {"reassoc", "contract"}

# Outputs computed per block: four rows of 1024 floats are 16 KB, half of L1 (measured: 512
# to 2048 are within 10% of each other).
_BLOCK = 1024

# Rows narrower than this lose to im2col + BLAS: a padded row of 8 is 25% padding, and the
# loops are short.
MIN_WIDTH = 16


def fits(kW, stride, W_out, C_out):
    """What the kernel is written for: a 3-wide kernel, stride 1, output channels in fours;
    and rows of at least MIN_WIDTH."""
    return kW == 3 and stride == (1, 1) and C_out % 4 == 0 and W_out >= MIN_WIDTH


@kernel(fastmath=_FAST)
def _conv3(xp, w, b, Wp, dh, dw, y, relu):
    """y (C_out, H_out, W_out) = b + conv of one padded sample with w (C_out, C_in, kH, 3),
    then max(y, 0) if ``relu``.

    xp (C_in, Hp*Wp) is the zero-padded input, flattened. In those flat coordinates output
    (oh, ow) sits at j = oh*Wp + ow and the tap (kh, kw) reads xp at j + kh*dh*Wp + kw*dw, so
    every tap is a contiguous, shifted view of a whole input plane:

        acc[co, j] = b[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * xp[ci, kh*dh*Wp + kw*dw + j]

    Four output channels at a time, from each input row's three shifted views: 12
    multiply-adds per value loaded. The j range goes in blocks of up to _BLOCK, so that the four
    accumulating rows stay in L1; a finished block is copied out to y, all but the positions
    ow >= W_out, which wrapped around a row edge (the last row's are not computed at all:
    they would read past the end of xp).
    """
    C_out, H_out, W_out = y.shape
    _, C_in, kH, _ = w.shape
    L = H_out * Wp - 2 * dw
    block = -(-L // -(-L // _BLOCK))  # equal blocks of at most _BLOCK: no short last one
    acc = np.empty((4, _BLOCK + 16), dtype=y.dtype)  # + 16: rows 4 KB apart alias in L1
    floor = np.full(1, 0.0 if relu else -np.inf, y.dtype)[0]  # the ReLU as max(y, floor)
    for j0 in range(0, L, block):
        n = min(block, L - j0)
        for co in range(0, C_out, 4):
            y0, y1, y2, y3 = acc[0, :n], acc[1, :n], acc[2, :n], acc[3, :n]
            y0[:], y1[:], y2[:], y3[:] = b[co], b[co + 1], b[co + 2], b[co + 3]
            for ci in range(C_in):
                for kh in range(kH):
                    o = kh * dh * Wp + j0
                    r0, r1, r2 = xp[ci, o:o + n], xp[ci, o + dw:], xp[ci, o + 2 * dw:]
                    a0, a1, a2 = w[co, ci, kh, 0], w[co, ci, kh, 1], w[co, ci, kh, 2]
                    b0, b1, b2 = w[co + 1, ci, kh, 0], w[co + 1, ci, kh, 1], w[co + 1, ci, kh, 2]
                    c0, c1, c2 = w[co + 2, ci, kh, 0], w[co + 2, ci, kh, 1], w[co + 2, ci, kh, 2]
                    d0, d1, d2 = w[co + 3, ci, kh, 0], w[co + 3, ci, kh, 1], w[co + 3, ci, kh, 2]
                    for j in range(n):
                        v0, v1, v2 = r0[j], r1[j], r2[j]
                        y0[j] += a0 * v0 + a1 * v1 + a2 * v2
                        y1[j] += b0 * v0 + b1 * v1 + b2 * v2
                        y2[j] += c0 * v0 + c1 * v1 + c2 * v2
                        y3[j] += d0 * v0 + d1 * v1 + d2 * v2
            for oh in range(j0 // Wp, (j0 + n - 1) // Wp + 1):  # the rows this block touches
                lo, hi = max(j0, oh * Wp), min(j0 + n, oh * Wp + W_out)
                for i in range(4):
                    src, dst = acc[i, lo - j0:], y[co + i, oh, lo - oh * Wp:]
                    for t in range(hi - lo):  # NaN stays NaN, -0.0 becomes +0.0
                        dst[t] = floor if src[t] <= floor else src[t]


@kernel(fastmath=_FAST)
def _conv3_grad_weight(xp, gp, Wp, kH, dh, dw, grad_w):
    """grad_w (C_out, C_in, kH, 3) += the weight gradient of one sample, as dot products.

    xp (C_in, Hp*Wp) is the padded input and gp (C_out, H_out*Wp) is grad_y laid out in rows
    of the same width Wp = W_out + 2*dw, zero past column W_out. In those flat coordinates
    output j = oh*Wp + ow meets input j + kh*dh*Wp + kw*dw, so

        grad_w[co, ci, kh, kw] += sum_j gp[co, j] * xp[ci, kh*dh*Wp + kw*dw + j]

    one dot product of two contiguous vectors per weight; the zero columns of gp drop the
    pairs that wrap around a row edge (the last row's are skipped: they would run past xp).
    Four output channels times three taps make 12 sums per pass over the data.
    """
    C_out, L = gp.shape
    C_in = xp.shape[0]
    L -= 2 * dw
    zero = np.zeros(1, grad_w.dtype)[0]  # sums in the arrays' own dtype
    for co in range(0, C_out, 4):
        g0, g1, g2, g3 = gp[co, :L], gp[co + 1, :L], gp[co + 2, :L], gp[co + 3, :L]
        for ci in range(C_in):
            for kh in range(kH):
                o = kh * dh * Wp  # the tap (kh, kw) starts at o + kw*dw
                r0, r1, r2 = xp[ci, o:o + L], xp[ci, o + dw:], xp[ci, o + 2 * dw:]
                a0 = a1 = a2 = b0 = b1 = b2 = c0 = c1 = c2 = d0 = d1 = d2 = zero
                for j in range(L):
                    v0, v1, v2 = r0[j], r1[j], r2[j]
                    a0 += g0[j] * v0
                    a1 += g0[j] * v1
                    a2 += g0[j] * v2
                    b0 += g1[j] * v0
                    b1 += g1[j] * v1
                    b2 += g1[j] * v2
                    c0 += g2[j] * v0
                    c1 += g2[j] * v1
                    c2 += g2[j] * v2
                    d0 += g3[j] * v0
                    d1 += g3[j] * v1
                    d2 += g3[j] * v2
                grad_w[co, ci, kh, 0] += a0
                grad_w[co, ci, kh, 1] += a1
                grad_w[co, ci, kh, 2] += a2
                grad_w[co + 1, ci, kh, 0] += b0
                grad_w[co + 1, ci, kh, 1] += b1
                grad_w[co + 1, ci, kh, 2] += b2
                grad_w[co + 2, ci, kh, 0] += c0
                grad_w[co + 2, ci, kh, 1] += c1
                grad_w[co + 2, ci, kh, 2] += c2
                grad_w[co + 3, ci, kh, 0] += d0
                grad_w[co + 3, ci, kh, 1] += d1
                grad_w[co + 3, ci, kh, 2] += d2


def conv(x, w, b, top_left, bottom_right, dilation, H_out, W_out, relu=False):
    """The direct kernel on each sample, padded by top_left and bottom_right zeros (and
    max(y, 0) if ``relu``)."""
    N, C_in, H, W = x.shape
    C_out = w.shape[0]
    (top, left), (bottom, right) = top_left, bottom_right
    Hp, Wp = H + top + bottom, W + left + right
    bias = np.zeros(C_out, dtype=x.dtype) if b is None else b
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)

    splits = channel_splits(N, C_out)
    if splits > 1:  # fewer samples than cores: split each one's channels instead
        xp = workspace("padded", (N, C_in, Hp, Wp), x.dtype)  # this thread's, shared
        cin, cout = channel_ranges(C_in, splits), channel_ranges(C_out, splits, 4)

        def pad_channels(mine):
            for n, (lo, hi) in mine:
                pad(x[n, lo:hi], 0, top, left, xp[n, lo:hi], Hp)

        def conv_channels(mine):
            for n, (lo, hi) in mine:
                _conv3(xp[n].reshape(C_in, Hp * Wp), w[lo:hi], bias[lo:hi], Wp, dilation[0],
                       dilation[1], y[n, lo:hi], relu)

        parallel_for(pad_channels, sample_channels(N, cin))
        parallel_for(conv_channels, sample_channels(N, cout))
        return y

    def samples(mine):
        xp = workspace("padded", (C_in, Hp, Wp), x.dtype)
        for n in mine:
            pad(x[n], 0, top, left, xp, Hp)
            _conv3(xp.reshape(C_in, Hp * Wp), w, bias, Wp, dilation[0], dilation[1], y[n], relu)

    parallel_for(samples, range(N))
    return y


def grad_weight(mine, x, grad_y, kH, padding, dilation, grad_w):
    """grad_w += the weight gradient of the samples ``mine``, by the direct kernel (stride 1,
    a kH x 3 kernel)."""
    C_in = x.shape[1]
    _, C_out, H_out, W_out = grad_y.shape
    (ph, pw), (dh, dw) = padding, dilation
    Hp, Wp = H_out + dh * (kH - 1), W_out + 2 * dw  # the padded window the output reads
    xp = workspace("padded", (C_in, Hp, Wp), x.dtype)
    gp = workspace("grad_y", (C_out, H_out, Wp), x.dtype)
    for n in mine:
        pad(x[n], 0, ph, pw, xp, Hp)
        pad(grad_y[n], 0, 0, 0, gp, H_out)
        _conv3_grad_weight(xp.reshape(C_in, Hp * Wp), gp.reshape(C_out, H_out * Wp), Wp, kH,
                           dh, dw, grad_w)
