"""Convolution, fast: three algorithms behind the one contract, each where it wins.

**Winograd** (winograd.py) for 3x3 stride-1 convs with at least WINOGRAD_MIN_CHANNELS
channels in and out, most of the U-Net: F(2x2, 3x3) turns each 4x4 input tile into 16 numbers
whose products with the transformed weights give a 2x2 output tile, 16 multiplies where the
direct sum takes 36. The 16 products over all tiles are 16 BLAS matrix products.

**Direct** (direct.py) for 3x3 stride-1 convs with few channels on large images (the U-Net's
first and last levels): shifted views of a padded plane, four output channels per pass.

**im2col** for everything else (strides, 1x1 and 2x2 kernels, dilation): it lays every
receptive field of one sample out as a column::

    cols[(ci, kh, kw), (oh, ow)] = x[ci, oh*s - p + kh*d, ow*s - p + kw*d]     (0 outside)

a (K, P) matrix with K = C_in*kH*kW rows and P = H_out*W_out columns. The convolution is then
one matrix product, ``W (C_out, K) @ cols (K, P)``, which is already the (C_out, H_out, W_out)
output plane of that sample in NCHW order: no transposes. NumPy's ``@`` hands it to OpenBLAS,
outside numba, and writes it straight into the output with ``out=``. The transposed
convolution is the same map read backwards: ``W^T (K, C_in) @ x (C_in, P)`` gives columns, and
col2im (the adjoint of im2col) scatter-adds each column back into the image. The weight
gradient is ``sum_n grad_y[n] (C_out, P) @ cols[n].T (P, K)``.

A stride-1 transposed convolution (the input gradient of every stride-1 conv) is a conv2d with
the kernel turned 180 degrees (``_flipped``), so it takes the same three roads. Winograd
adds and subtracts inputs before it multiplies (inf - inf = NaN where the reference has
inf), and the direct weight gradient multiplies padding by inputs (0 * inf), so a non-finite
result from either is recomputed by im2col, whose sums have the reference's terms for any
non-finite *input*. (A non-finite *weight* meets the zero padding in all three, as in
PyTorch: 0 * inf = NaN at the border, where the reference, which skips padding, has none.)

How the work is shared between the cores, and the reused workspaces: layout.py. The
reference kernels in ``tinyunet.kernels.reference.conv`` are the definition; the tests hold
all three algorithms to them.
"""

from __future__ import annotations

import numpy as np

from ...threads import parallel_for
from . import direct, winograd
from .layout import channel_ranges, channel_splits, kernel, sample_channels, side_by_side, workspace

# Below this many channels in or out, Winograd's 16 products are too thin for BLAS to repay
# its transforms, and the direct kernel wins (measured on the U-Net's 16 -> 32 @64 and
# 32 -> 16 @128 layers; from 32 -> 32 @64 on, Winograd is the faster).
WINOGRAD_MIN_CHANNELS = 32

# The weight gradient's 16 products are only (C_out, C_in) each, summed over every tile: there
# Winograd needs 64 channels each way (measured: the direct kernel wins at 32 channels) and
# rows of 8 or more (with a worker's samples side by side, it beats im2col on the 8x8
# bottleneck by 1.4-1.6x; 4x4 images are left to im2col).
WINOGRAD_GRAD_MIN_CHANNELS, WINOGRAD_GRAD_MIN_WIDTH = 64, 8

# Small images are im2col'ed a few samples at a time, side by side in one matrix of about this
# many columns: one matmul with 64 columns per sample is too thin for BLAS.
_COLUMNS = 1024


def _algorithm(kH, kW, stride, dilation, W_out, C_in, C_out, weight_grad=False):
    """"winograd", "direct" or "im2col": which kernel computes a conv of these shapes, or its
    weight gradient."""
    if weight_grad:
        wins = min(C_in, C_out) >= WINOGRAD_GRAD_MIN_CHANNELS and W_out >= WINOGRAD_GRAD_MIN_WIDTH
    else:
        wins = min(C_in, C_out) >= WINOGRAD_MIN_CHANNELS
    if winograd.fits(kH, kW, stride, dilation) and wins:
        return "winograd"
    if direct.fits(kW, stride, W_out, C_out):
        return "direct"
    return "im2col"


# ----- im2col and col2im --------------------------------------------------------------------


@kernel()
def _im2col(x, kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, col0):
    """Fill columns col0 to col0 + H_out*W_out of cols (C*kH*kW, ...) from one sample x (C, H, W).

    For each kernel tap (kh, kw) the output columns whose input column falls inside the image
    form one range [ow_lo, ow_hi); the rest read padding. Computing that range once makes the
    inner loop a branch-free strided copy (element loops: see layout.pad).
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


@kernel()
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


def _gather(x, kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, col0):
    """im2col (cols[(ci, kh, kw), col0 + (oh, ow)] = x[ci, oh*s - p + kh*d, ...]) of one
    sample. When the windows tile the image without overlap or padding (kernel = stride, as in
    the U-Net's 2x2 stride-2 up-convolution) that is a reshuffle of x, kH*kW strided copies
    by NumPy: nothing to compile."""
    if (kH, kW) != (sh, sw) or (ph, pw) != (0, 0) or (dh, dw) != (1, 1):
        _im2col(x, kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, col0)
        return
    C = x.shape[0]
    rows = cols[:, col0:col0 + H_out * W_out].reshape(C, kH, kW, H_out, W_out)
    for kh in range(kH):
        for kw in range(kW):
            rows[:, kh, kw] = x[:, kh:kh + kH * H_out:kH, kw:kw + kW * W_out:kW]


def _scatter(cols, b, kH, kW, sh, sw, ph, pw, dh, dw, H_in, W_in, y):
    """col2im (y = b + scatter-add of cols) of one sample; where the windows do not overlap
    (kernel = stride, no padding, no dilation, y no larger than they cover) each output pixel
    gets exactly one column entry, kH*kW strided copies by NumPy."""
    C, H_out, W_out = y.shape
    if ((kH, kW) != (sh, sw) or (ph, pw) != (0, 0) or (dh, dw) != (1, 1)
            or (H_out, W_out) != (kH * H_in, kW * W_in)):
        _col2im(cols, b, kH, kW, sh, sw, ph, pw, dh, dw, H_in, W_in, y)
        return
    taps = cols.reshape(C, kH, kW, H_in, W_in)
    for kh in range(kH):
        for kw in range(kW):
            np.add(taps[:, kh, kw], b[:, None, None], out=y[:, kh::kH, kw::kW])


def _flipped(w):
    """conv_transpose2d's weight (C_in, C_out, kH, kW) as conv2d's: channels swapped, kernel
    turned 180 degrees. With stride 1, conv_transpose2d(x, w, padding p) is conv2d(x,
    _flipped(w), padding d*(k-1) - p). A view: each algorithm copies what it reads."""
    return w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]


def _is_pointwise(kH, kW, stride, padding):
    """A 1x1 kernel with stride 1 and no padding: the columns are the input itself."""
    return kH == 1 and kW == 1 and stride == (1, 1) and padding == (0, 0)


# ----- the kernels --------------------------------------------------------------------------


def conv2d(x, w, b, stride, padding, dilation):
    """y = conv2d(x, w) + b, x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None."""
    return _conv2d(x, w, b, stride, padding, dilation, relu=False)


def conv2d_relu(x, w, b, stride, padding, dilation):
    """relu(conv2d(x, w) + b) in one pass over the output: the ReLU is the epilogue of
    whichever algorithm computes the conv (a fused kernel: ``tinyunet.ops.conv_relu``)."""
    return _conv2d(x, w, b, stride, padding, dilation, relu=True)


def _conv2d(x, w, b, stride, padding, dilation, relu):
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    (ph, pw), (dh, dw) = padding, dilation
    H_out = (H + 2 * ph - dh * (kH - 1) - 1) // stride[0] + 1
    W_out = (W + 2 * pw - dw * (kW - 1) - 1) // stride[1] + 1
    algorithm = _algorithm(kH, kW, stride, dilation, W_out, C_in, C_out)
    if algorithm == "im2col":
        return _im2col_conv(x, w, b, stride, padding, dilation, H_out, W_out, relu)
    return _conv_by(algorithm, x, w, b, (ph, pw), (ph, pw), dilation, H_out, W_out, relu)


def _conv_by(algorithm, x, w, b, top_left, bottom_right, dilation, H_out, W_out, relu=False,
             flip=False):
    """A stride-1 conv2d of x, zero-padded by top_left and bottom_right, by ``algorithm``;
    by im2col (exact) when Winograd gives a non-finite result. ``flip``: w is a transposed
    conv's weight, to be read as _flipped(w)."""
    if algorithm == "winograd":  # reads the flipped kernel in place
        y, finite = winograd.conv(x, w, b, top_left, H_out, W_out, relu, flip)
        if finite:
            return y
    w = _flipped(w) if flip else w
    if algorithm == "direct":  # its sums have the reference's terms: no check needed
        return direct.conv(x, np.ascontiguousarray(w), b, top_left, bottom_right, dilation,
                           H_out, W_out, relu)
    (top, left), (bottom, right) = top_left, bottom_right
    if (top, left) != (bottom, right):  # im2col pads symmetrically: add the extra rows first
        x = np.pad(x, ((0, 0), (0, 0), (0, bottom - top), (0, right - left)))
    return _im2col_conv(x, w, b, (1, 1), top_left, dilation, H_out, W_out, relu)


def _bias_relu(y_n, b, relu):
    """The epilogue of an im2col product, while the sample's output is still in cache:
    y_n (C_out, P) += b, then max(y_n, 0) if ``relu`` (NaN stays NaN, as np.maximum)."""
    if b is not None:
        y_n += b[:, None]
    if relu:
        np.maximum(y_n, 0, out=y_n)


def _im2col_conv(x, w, b, stride, padding, dilation, H_out, W_out, relu=False):
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    K, P = C_in * kH * kW, H_out * W_out
    w_mat = w.reshape(C_out, K)
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)
    pointwise = _is_pointwise(kH, kW, stride, padding)
    splits = 1 if pointwise else channel_splits(N, C_out)
    if splits > 1:  # fewer samples than cores: split each one's channels instead
        cols = workspace("cols", (N, K, P), x.dtype)  # this thread's, shared
        cin, cout = channel_ranges(C_in, splits), channel_ranges(C_out, splits)

        def gather(mine):  # input channels lo:hi are the column rows lo*kH*kW:hi*kH*kW
            for n, (lo, hi) in mine:
                _gather(x[n, lo:hi], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out,
                        cols[n, lo * kH * kW:hi * kH * kW], 0)

        def product(mine):  # output channels lo:hi: y[n, lo:hi] = w[lo:hi] @ cols[n]
            for n, (lo, hi) in mine:
                y_n = y[n, lo:hi].reshape(hi - lo, P)
                np.matmul(w_mat[lo:hi], cols[n], out=y_n)
                _bias_relu(y_n, None if b is None else b[lo:hi], relu)

        parallel_for(gather, sample_channels(N, cin))
        parallel_for(product, sample_channels(N, cout))
        return y

    if pointwise:  # the columns are the input itself

        def product(mine):
            for n in mine:
                y_n = y[n].reshape(C_out, P)
                np.matmul(w_mat, x[n].reshape(K, P), out=y_n)
                _bias_relu(y_n, b, relu)

        parallel_for(product, range(N))
        return y

    def gather_and_product(mine):  # cols of a run of samples side by side, one product
        for run in mine:
            m = len(run) * P
            cols, out = workspace("cols", (K, m), x.dtype), workspace("out", (C_out, m), x.dtype)
            for k, n in enumerate(run):
                _gather(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, k * P)
            one = len(run) == 1  # then the product goes straight into the output
            np.matmul(w_mat, cols, out=y[run[0]].reshape(C_out, P) if one else out)
            for k, n in enumerate(run):
                y_n = y[n].reshape(C_out, P)
                if not one:
                    y_n[...] = out[:, k * P:(k + 1) * P]
                _bias_relu(y_n, b, relu)

    parallel_for(gather_and_product, side_by_side(N, P, _COLUMNS))
    return y


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
        algorithm = _algorithm(kH, kW, stride, dilation, W_out, C_in, C_out)
        if algorithm != "im2col" or output_padding == (0, 0):  # gathering beats col2im
            return _conv_by(algorithm, x, w, b, (qh, qw), (qh + oph, qw + opw), dilation,
                            H_out, W_out, flip=True)
    K, P = C_out * kH * kW, H * W

    # (a 1x1 kernel with stride 1 never gets here: it is a conv2d in disguise, above)
    w_t = w.reshape(C_in, K).T  # a transposed view: BLAS reads it as is, nothing is copied
    bias = np.zeros(C_out, dtype=x.dtype) if b is None else b
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)

    def product_and_scatter(mine):  # cols = w^T x[n], then scatter-add them into y[n]
        cols = workspace("cols", (K, P), x.dtype)
        for n in mine:
            np.matmul(w_t, x[n].reshape(C_in, P), out=cols)
            _scatter(cols, bias, kH, kW, sh, sw, ph, pw, dh, dw, H, W, y[n])

    parallel_for(product_and_scatter, range(N))
    return y


def conv2d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv2d(x, w), w (C_out, C_in, kH, kW).

    grad_y's spatial size may be smaller than conv2d's natural output (the sums run over
    grad_y's own). Each worker sums its own samples; the partial sums are added at the end.
    Winograd and the direct kernel multiply zero-padded grad_y by real inputs (0 * inf =
    NaN where the true sum is finite), so a non-finite result from either (rare: the true
    one is then non-finite too) is redone by im2col.
    """
    kH, kW = kernel_size
    N, C_in = x.shape[:2]
    C_out, H_out, W_out = grad_y.shape[1:]
    algorithm = _algorithm(kH, kW, stride, dilation, W_out, C_in, C_out, weight_grad=True)
    if algorithm == "winograd":
        grad_w = _sum_per_worker(
            lambda mine, g: winograd.grad_weight(mine, x, grad_y, padding, g),
            winograd.tile(N, H_out, W_out, per_worker=1), x, grad_y, kernel_size)
    elif algorithm == "direct":
        grad_w = _sum_per_worker(
            lambda mine, g: direct.grad_weight(mine, x, grad_y, kH, padding, dilation, g),
            range(N), x, grad_y, kernel_size)
    if algorithm != "im2col" and np.isfinite(grad_w).all():
        return grad_w
    return _sum_per_worker(
        lambda mine, g: _im2col_grad_weight(mine, x, grad_y, kernel_size, stride, padding,
                                            dilation, g),
        side_by_side(N, H_out * W_out, _COLUMNS, per_worker=1), x, grad_y, kernel_size)


def _sum_per_worker(grad_weight, items, x, grad_y, kernel_size):
    """Each worker sums ``grad_weight(its items, grad_w)`` into a grad_w of its own; the
    partial sums are added last. The items are shared out in a fixed way, so the sums, and
    training, are the same bit for bit from run to run."""
    shape = (grad_y.shape[1], x.shape[1], *kernel_size)

    def samples(mine):
        grad_w = np.zeros(shape, dtype=x.dtype)
        grad_weight(mine, grad_w)
        return grad_w

    partial = parallel_for(samples, items, fixed=True)
    grad_w = np.zeros(shape, dtype=x.dtype) if not partial else partial[0]
    for g in partial[1:]:
        grad_w += g
    return grad_w


def _im2col_grad_weight(mine, x, grad_y, kernel_size, stride, padding, dilation, grad_w):
    """grad_w += the weight gradient of the runs of samples ``mine``, as grad_y @ cols.T."""
    N, C_in, H, W = x.shape
    _, C_out, H_out, W_out = grad_y.shape
    kH, kW = kernel_size
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    K, P = C_in * kH * kW, H_out * W_out
    pointwise = _is_pointwise(kH, kW, stride, padding) and (H_out, W_out) == (H, W)
    term = np.empty((C_out, K), dtype=x.dtype)
    for run in mine:
        if pointwise:  # the columns are the input itself
            for n in run:
                np.matmul(grad_y[n].reshape(C_out, P), x[n].reshape(K, P).T, out=term)
                grad_w += term.reshape(grad_w.shape)
            continue
        m = len(run) * P
        cols = workspace("cols", (K, m), x.dtype)
        grads = workspace("grad_y", (C_out, m), x.dtype)
        for k, n in enumerate(run):
            _gather(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols, k * P)
            grads[:, k * P:(k + 1) * P] = grad_y[n].reshape(C_out, P)
        np.matmul(grads, cols.T, out=term)
        grad_w += term.reshape(grad_w.shape)
