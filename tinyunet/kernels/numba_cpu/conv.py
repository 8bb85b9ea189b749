"""Convolution, fast: a direct 3x3 kernel where it applies, im2col + one BLAS matmul elsewhere.

**im2col** lays every receptive field of one sample out as a column::

    cols[(ci, kh, kw), (oh, ow)] = x[ci, oh*s - p + kh*d, ow*s - p + kw*d]     (0 outside)

a (K, P) matrix with K = C_in*kH*kW rows and P = H_out*W_out columns. The convolution is then
one matrix product, ``W (C_out, K) @ cols (K, P)``, which is already the (C_out, H_out, W_out)
output plane of that sample in NCHW order: no transposes. NumPy's ``@`` hands it to OpenBLAS,
outside numba, and writes it straight into the output with ``out=``. The transposed
convolution is the same map read backwards: ``W^T (K, C_in) @ x (C_in, P)`` gives columns, and
col2im (the adjoint of im2col) scatter-adds each column back into the image. The weight
gradient is ``sum_n grad_y[n] (C_out, P) @ cols[n].T (P, K)``.

**Direct** (``_is_direct``: a 3-wide kernel, stride 1, output channels in fours, rows of at
least DIRECT_MIN_WIDTH): im2col writes 9 copies of the input, and with 16 or 32 channels at
128x128 the thin matmul then waits on memory. The direct kernel reads a zero-padded copy of
the input instead. Flattened, with padded row width Wp, output (oh, ow) sits at j = oh*Wp + ow
and each tap reads the input at j + kh*d*Wp + kw*d: every tap is one contiguous, shifted view
of a whole input plane::

    y[co, j] += w[co, ci, kh, kw] * xp[ci, kh*d*Wp + kw*d + j]      for all j at once

(the columns that wrap around a row edge are computed and dropped). ``_conv3`` does four output
channels and the three taps of a kernel row per pass, 12 multiply-adds per input value loaded,
in blocks that stay in L1. A stride-1 transposed convolution is this same conv with the weight
flipped and its in/out channels swapped (``_flipped``), and the weight gradient is a dot
product of two such views per weight (``_conv3_grad_weight``). One exception, measured: a
small image with many output channels goes to im2col, whose matmul is then BLAS-friendly
(``_is_direct_forward``).

Speed (see tinyunet/threads.py): the samples of a batch are split between the cores; each
core runs its own samples start to finish, in per-thread workspaces (the column matrix, the
padded input) that are reused from call to call instead of allocated and page-faulted.
A batch smaller than the core count (inference on one image) would leave cores idle, so
there the forward kernels split each sample instead: padding or im2col by blocks of input
channels, then the direct kernel or the matmul by blocks of output channels (``_parts``).

Indexing note: numba wraps negative indices, so ``x[c, ih, ow*s + shift]`` with a signed
``shift`` costs a check per element and stops LLVM from vectorising; the loops below index
with non-negative ``range`` variables into slices instead.

The reference kernels in ``tinyunet.kernels.reference.conv`` are the definition; the tests
hold these to them.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from ...threads import for_each_chunk, num_threads

# Reorder float sums (to vectorise reductions) and fuse multiply-adds; unlike fastmath=True
# this keeps NaN and inf semantics, so they still propagate as in PyTorch.
_FAST = {"reassoc", "contract"}

# The direct kernel needs rows at least this wide to beat im2col + BLAS (measured on the
# reference U-Net's layers: about 1.5x faster at 16 to 128 columns, 1.5x slower at 8, where a
# padded row is 25% padding and the loops are short).
DIRECT_MIN_WIDTH = 16

# Small images are convolved a few samples at a time, im2col'ed side by side into one matrix
# of about this many columns: one matmul with 64 columns per sample is too thin for BLAS.
_MIN_COLUMNS = 1024

# Outputs computed per block by the direct kernel: four rows of 1024 floats are 16 KB, half of
# L1 (measured: 512 to 2048 are within 10% of each other).
_BLOCK = 1024


# ----- im2col and col2im --------------------------------------------------------------------


@njit(nogil=True, cache=True)
def _im2col(x, kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, col0):
    """Fill columns col0 to col0 + H_out*W_out of cols (C*kH*kW, ...) from one sample x (C, H, W).

    For each kernel tap (kh, kw) the output columns whose input column falls inside the image
    form one range [ow_lo, ow_hi); the rest read padding. Computing that range once makes the
    inner loop a branch-free strided copy (element loops: see _pad).
    """
    C, H, W = x.shape
    for c in range(C):
        for kh in range(kH):
            for kw in range(kW):
                r = (c * kH + kh) * kW + kw
                shift = kw * dw - pw  # iw = ow*sw + shift
                ow_lo = min(W_out, max(0, (-shift + sw - 1) // sw))
                ow_hi = min(W_out, max(ow_lo, (W - shift + sw - 1) // sw))
                for oh in range(H_out):
                    ih = oh * sh - ph + kh * dh
                    row = cols[r, col0 + oh * W_out:]
                    if ih < 0 or ih >= H or ow_hi == ow_lo:  # the whole row reads padding
                        for ow in range(W_out):
                            row[ow] = 0.0
                        continue
                    src = x[c, ih, ow_lo * sw + shift:]
                    for ow in range(ow_lo):
                        row[ow] = 0.0
                    for t in range(ow_hi - ow_lo):
                        row[ow_lo + t] = src[t * sw]
                    for ow in range(ow_hi, W_out):
                        row[ow] = 0.0


@njit(nogil=True, cache=True)
def _col2im(cols, b, kH, kW, sh, sw, ph, pw, dh, dw, H_in, W_in, y):
    """y (C, H_out, W_out) = b + scatter-add of cols (C*kH*kW, H_in*W_in): im2col's adjoint.

    The same in-range trick as im2col, read backwards: input column iw lands on output column
    ow = iw*sw + shift, kept only when 0 <= ow < W_out.
    """
    C, H_out, W_out = y.shape
    for c in range(C):
        y[c, :, :] = b[c]
        for kh in range(kH):
            for kw in range(kW):
                r = (c * kH + kh) * kW + kw
                shift = kw * dw - pw
                iw_lo = min(W_in, max(0, (-shift + sw - 1) // sw))
                iw_hi = min(W_in, max(iw_lo, (W_out - shift + sw - 1) // sw))
                ow_lo, n = iw_lo * sw + shift, iw_hi - iw_lo
                if n == 0:
                    continue
                for ih in range(H_in):
                    oh = ih * sh - ph + kh * dh
                    if oh < 0 or oh >= H_out:
                        continue
                    src, dst = cols[r, ih * W_in + iw_lo:], y[c, oh, ow_lo:]
                    for t in range(n):
                        dst[t * sw] += src[t]


# ----- the direct kernel --------------------------------------------------------------------


@njit(nogil=True, cache=True)
def _pad(x, top, left, xp):
    """xp[c, i, j] = x[c, i - top, j - left], 0 where that is outside x (top, left >= 0).

    Plain element loops: numba turns them into vector copies, while a slice assignment per
    row costs more than the row itself on small images.
    """
    C, H, W = x.shape
    _, Hp, Wp = xp.shape
    left = min(left, Wp)
    n = min(W, Wp - left)  # the columns of x that land in xp
    for c in range(C):
        for i in range(Hp):
            row = xp[c, i]
            if i < top or i - top >= H:
                for j in range(Wp):
                    row[j] = 0.0
                continue
            src, dst = x[c, i - top], row[left:]
            for j in range(left):
                row[j] = 0.0
            for j in range(n):
                dst[j] = src[j]
            for j in range(left + n, Wp):
                row[j] = 0.0


@njit(nogil=True, cache=True, fastmath=_FAST)
def _conv3(xp, w, b, Wp, dh, dw, y):
    """y (C_out, H_out, W_out) = b + conv of one padded sample with w (C_out, C_in, kH, 3).

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
                    for t in range(hi - lo):
                        dst[t] = src[t]


@njit(nogil=True, cache=True, fastmath=_FAST)
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


def _is_direct(kW, stride, W_out, C_out):
    """Use the direct kernel? Only for what it is written for (a 3-wide kernel, stride 1,
    output channels in fours) and where it wins (rows of at least DIRECT_MIN_WIDTH)."""
    return kW == 3 and stride == (1, 1) and C_out % 4 == 0 and W_out >= DIRECT_MIN_WIDTH


def _is_direct_forward(kW, stride, W_out, C_in, C_out):
    """_is_direct, for a forward conv: except a small image with many output channels.

    There (rows of at most 32, C_out >= 128, and either C_out >= 2*C_in or C_out >= 256) the
    matmul is a square-ish BLAS call (C_out rows, 9*C_in >= 576 deep) that OpenBLAS runs near
    its peak, while the direct kernel rereads the padded input once per four output channels.
    Measured on a quiet machine, im2col's time over the direct kernel's: 0.7-0.9x at 64->128
    and 128->256 (batch 8 @16-32, batch 1 @32), 0.65-0.8x at 256->256 (@16-32); the direct
    kernel stays at 32->64, 128->128 and 256->128, where im2col is 1.0-1.25x.
    """
    many = W_out <= 32 and C_out >= 128 and (C_out >= 2 * C_in or C_out >= 256)
    return _is_direct(kW, stride, W_out, C_out) and not many


def _flipped(w):
    """conv_transpose2d's weight (C_in, C_out, kH, kW) as conv2d's: channels swapped, kernel
    turned 180 degrees. With stride 1, conv_transpose2d(x, w, padding p) is conv2d(x,
    _flipped(w), padding d*(k-1) - p)."""
    return np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])


# ----- workspaces ---------------------------------------------------------------------------

_local = threading.local()


def _workspace(name, shape, dtype):
    """This thread's scratch array ``name`` of ``shape``: grown when too small, else reused."""
    size = int(np.prod(shape))
    buffers = _local.__dict__.setdefault("buffers", {})
    key = (name, np.dtype(dtype))
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def _is_pointwise(kH, kW, stride, padding):
    """A 1x1 kernel with stride 1 and no padding: the columns are the input itself."""
    return kH == 1 and kW == 1 and stride == (1, 1) and padding == (0, 0)


# ----- the kernels --------------------------------------------------------------------------


def conv2d(x, w, b, stride, padding, dilation):
    """y = conv2d(x, w) + b, x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None."""
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    (ph, pw), (dh, dw) = padding, dilation
    H_out = (H + 2 * ph - dh * (kH - 1) - 1) // stride[0] + 1
    W_out = (W + 2 * pw - dw * (kW - 1) - 1) // stride[1] + 1
    if _is_direct_forward(kW, stride, W_out, C_in, C_out):
        return _direct(x, w, b, (ph, pw), (ph, pw), dilation, H_out, W_out)
    return _im2col_conv(x, w, b, stride, padding, dilation, H_out, W_out)


def _direct(x, w, b, top_left, bottom_right, dilation, H_out, W_out):
    """The direct kernel on each sample, padded by top_left and bottom_right zeros."""
    N, C_in, H, W = x.shape
    C_out = w.shape[0]
    (top, left), (bottom, right) = top_left, bottom_right
    Hp, Wp = H + top + bottom, W + left + right
    bias = np.zeros(C_out, dtype=x.dtype) if b is None else b
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)

    parts = _parts(N, C_out)
    if parts > 1:  # fewer samples than cores: split each one's channels instead
        xp = _workspace("padded", (N, C_in, Hp, Wp), x.dtype)  # this thread's, shared
        cin, cout = _blocks(C_in, parts, 1), _blocks(C_out, parts, 4)

        def pad(units):
            for n, (lo, hi) in _units(units, cin):
                _pad(x[n, lo:hi], top, left, xp[n, lo:hi])

        def conv(units):
            for n, (lo, hi) in _units(units, cout):
                _conv3(xp[n].reshape(C_in, Hp * Wp), w[lo:hi], bias[lo:hi], Wp, dilation[0],
                       dilation[1], y[n, lo:hi])

        for_each_chunk(pad, N * parts)
        for_each_chunk(conv, N * parts)
        return y

    def samples(ns):
        xp = _workspace("padded", (C_in, Hp, Wp), x.dtype)
        for n in ns:
            _pad(x[n], top, left, xp)
            _conv3(xp.reshape(C_in, Hp * Wp), w, bias, Wp, dilation[0], dilation[1], y[n])

    for_each_chunk(samples, N)
    return y


def _parts(N, C_out):
    """Into how many channel blocks each sample is split: 1 when the batch alone keeps every
    core busy, else enough blocks (of at least 4 output channels) for one per core."""
    if N == 0 or N >= num_threads():
        return 1
    return max(1, min(-(-num_threads() // N), C_out // 4))


def _blocks(C, parts, multiple):
    """range(C) cut into ``parts`` (lo, hi) blocks of nearly equal size, lo a multiple of
    ``multiple`` (the direct kernel's four output channels per pass)."""
    cuts = [min(C, -(-C * p // parts // multiple) * multiple) for p in range(parts + 1)]
    return [(cuts[p], cuts[p + 1]) for p in range(parts)]


def _units(units, blocks):
    """The (sample, channel block) pairs numbered ``units``: sample u // len(blocks), block
    u % len(blocks)."""
    return [(u // len(blocks), blocks[u % len(blocks)]) for u in units]


def _im2col_conv(x, w, b, stride, padding, dilation, H_out, W_out):
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    K, P = C_in * kH * kW, H_out * W_out
    w_mat = w.reshape(C_out, K)
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)
    pointwise = _is_pointwise(kH, kW, stride, padding)
    parts = 1 if pointwise else _parts(N, C_out)
    if parts > 1:  # fewer samples than cores: split each one's channels instead
        cols = _workspace("cols", (N, K, P), x.dtype)  # this thread's, shared
        cin, cout = _blocks(C_in, parts, 1), _blocks(C_out, parts, 1)

        def fill(units):  # input channels lo:hi are the column rows lo*kH*kW:hi*kH*kW
            for n, (lo, hi) in _units(units, cin):
                _im2col(x[n, lo:hi], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out,
                        cols[n, lo * kH * kW:hi * kH * kW], 0)

        def multiply(units):
            for n, (lo, hi) in _units(units, cout):
                y_n = y[n, lo:hi].reshape(hi - lo, P)
                np.matmul(w_mat[lo:hi], cols[n], out=y_n)
                if b is not None:
                    y_n += b[lo:hi, None]

        for_each_chunk(fill, N * parts)
        for_each_chunk(multiply, N * parts)
        return y

    def samples(ns):
        if pointwise:  # the columns are the input itself
            for n in ns:
                y_n = y[n].reshape(C_out, P)
                np.matmul(w_mat, x[n].reshape(K, P), out=y_n)
                if b is not None:
                    y_n += b[:, None]  # while the sample's output is still in cache
            return
        g = _group(ns, P)
        cols = _workspace("cols", (K, g * P), x.dtype)
        out = _workspace("out", (C_out, g * P), x.dtype)
        for i in range(0, len(ns), g):
            group, m = ns[i:i + g], len(ns[i:i + g]) * P
            for k, n in enumerate(group):
                _im2col(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, k * P)
            one = len(group) == 1  # then the product goes straight into the output
            np.matmul(w_mat, cols[:, :m], out=y[group[0]].reshape(C_out, P) if one else out[:, :m])
            for k, n in enumerate(group):
                y_n = y[n].reshape(C_out, P)
                if len(group) > 1:
                    y_n[...] = out[:, k * P:(k + 1) * P]
                if b is not None:
                    y_n += b[:, None]

    for_each_chunk(samples, N)
    return y


def _group(ns, P):
    """How many of the samples ns go side by side into one matmul (see _MIN_COLUMNS)."""
    return max(1, min(len(ns), _MIN_COLUMNS // P))


def conv_transpose2d(x, w, b, stride, padding, output_padding, dilation):
    """Transposed conv, x (N, C_in, H, W), w (C_in, C_out, kH, kW), b (C_out,) or None.

    Output size H_out = (H - 1)*s - 2p + d*(kH - 1) + output_padding + 1 (likewise W_out).
    """
    N, C_in, H, W = x.shape
    _, C_out, kH, kW = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    H_out = (H - 1) * sh - 2 * ph + dh * (kH - 1) + oph + 1
    W_out = (W - 1) * sw - 2 * pw + dw * (kW - 1) + opw + 1
    qh, qw = dh * (kH - 1) - ph, dw * (kW - 1) - pw  # the equivalent conv2d's padding
    if stride == (1, 1) and qh >= 0 and qw >= 0:  # a conv2d in disguise (see _flipped)
        if _is_direct_forward(kW, stride, W_out, C_in, C_out):
            return _direct(x, _flipped(w), b, (qh, qw), (qh + oph, qw + opw), dilation,
                           H_out, W_out)
        if output_padding == (0, 0):  # gathering beats col2im's scatter-add
            return _im2col_conv(x, _flipped(w), b, stride, (qh, qw), dilation, H_out, W_out)
    K, P = C_out * kH * kW, H * W

    w_t = w.reshape(C_in, K).T  # a transposed view: BLAS reads it as is, nothing is copied
    bias = np.zeros(C_out, dtype=x.dtype) if b is None else b
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)
    pointwise = _is_pointwise(kH, kW, stride, padding) and output_padding == (0, 0)

    def samples(ns):
        cols = None if pointwise else _workspace("cols", (K, P), x.dtype)
        for n in ns:
            if pointwise:  # no scatter: every column lands on its own pixel
                y_n = y[n].reshape(C_out, P)
                np.matmul(w_t, x[n].reshape(C_in, P), out=y_n)
                y_n += bias[:, None]
            else:
                np.matmul(w_t, x[n].reshape(C_in, P), out=cols)
                _col2im(cols, bias, kH, kW, sh, sw, ph, pw, dh, dw, H, W, y[n])

    for_each_chunk(samples, N)
    return y


def conv2d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv2d(x, w): sum_n grad_y[n] (C_out, P) @ cols[n].T (P, K).

    P is grad_y's own spatial size, which may be smaller than conv2d's natural output. Each
    worker sums its own samples; the partial sums are added at the end.
    """
    C_out, W_out = grad_y.shape[1], grad_y.shape[3]
    if _is_direct(kernel_size[1], stride, W_out, C_out):
        grad_w = _sum_over_samples(_direct_grad_weight, x, grad_y, kernel_size, stride,
                                   padding, dilation)
        # The direct kernel also multiplies the zero columns of its padded grad_y by real
        # inputs. 0 * inf = NaN there would spoil a tap whose true sum is finite, so a
        # non-finite result (rare: the true one is then non-finite too) is redone exactly.
        if np.isfinite(grad_w).all():
            return grad_w
    return _sum_over_samples(_im2col_grad_weight, x, grad_y, kernel_size, stride, padding,
                             dilation)


def _sum_over_samples(grad_weight, x, grad_y, kernel_size, *hyper):
    """Each worker sums grad_weight over its own samples; the partial sums are added last."""
    N, C_in = x.shape[:2]
    C_out = grad_y.shape[1]
    shape = (C_out, C_in, *kernel_size)

    def samples(ns):
        grad_w = np.zeros(shape, dtype=x.dtype)
        grad_weight(ns, x, grad_y, kernel_size, *hyper, grad_w)
        return grad_w

    partial = for_each_chunk(samples, N)
    grad_w = np.zeros(shape, dtype=x.dtype) if N == 0 else partial[0]
    for g in partial[1:]:
        grad_w += g
    return grad_w


def _direct_grad_weight(ns, x, grad_y, kernel_size, stride, padding, dilation, grad_w):
    """grad_w += the weight gradient of samples ns, by the direct kernel."""
    C_in = x.shape[1]
    _, C_out, H_out, W_out = grad_y.shape
    kH = kernel_size[0]
    (ph, pw), (dh, dw) = padding, dilation
    Hp, Wp = H_out + dh * (kH - 1), W_out + 2 * dw  # the padded window the output reads
    xp = _workspace("padded", (C_in, Hp, Wp), x.dtype)
    gp = _workspace("grad_y", (C_out, H_out, Wp), x.dtype)
    for n in ns:
        _pad(x[n], ph, pw, xp)
        _pad(grad_y[n], 0, 0, gp)
        _conv3_grad_weight(xp.reshape(C_in, Hp * Wp), gp.reshape(C_out, H_out * Wp), Wp, kH,
                           dh, dw, grad_w)


def _im2col_grad_weight(ns, x, grad_y, kernel_size, stride, padding, dilation, grad_w):
    """grad_w += the weight gradient of samples ns, as grad_y @ cols.T."""
    N, C_in, H, W = x.shape
    _, C_out, H_out, W_out = grad_y.shape
    kH, kW = kernel_size
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    K, P = C_in * kH * kW, H_out * W_out
    if _is_pointwise(kH, kW, stride, padding) and (H_out, W_out) == (H, W):
        for n in ns:  # the columns are the input itself
            grad_w += (grad_y[n].reshape(C_out, P) @ x[n].reshape(K, P).T).reshape(
                grad_w.shape)
        return
    g = _group(ns, P)
    cols = _workspace("cols", (K, g * P), x.dtype)
    grads = _workspace("grad_y", (C_out, g * P), x.dtype)
    term = np.empty((C_out, K), dtype=x.dtype)
    for i in range(0, len(ns), g):
        group, m = ns[i:i + g], len(ns[i:i + g]) * P
        for k, n in enumerate(group):
            _im2col(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, k * P)
            grads[:, k * P:(k + 1) * P] = grad_y[n].reshape(C_out, P)
        np.matmul(grads[:, :m], cols[:, :m].T, out=term)
        grad_w += term.reshape(grad_w.shape)
