"""Convolution, fast: im2col / col2im in numba and one BLAS matrix multiply per sample.

im2col lays every receptive field of one sample out as a column::

    cols[(ci, kh, kw), (oh, ow)] = x[ci, oh*s - p + kh*d, ow*s - p + kw*d]     (0 outside)

a (K, P) matrix with K = C_in*kH*kW rows and P = H_out*W_out columns. The convolution is then
one matrix product, ``W (C_out, K) @ cols (K, P)``, which is already the (C_out, H_out, W_out)
output plane of that sample in NCHW order: no transposes. NumPy's ``@`` hands it to OpenBLAS,
outside numba, and writes it straight into the output with ``out=``.

The transposed convolution is the same map read backwards: ``W^T (K, C_in) @ x (C_in, P)``
gives columns, and col2im (the adjoint of im2col) scatter-adds each column back into the image.
The weight gradient is ``sum_n grad_y[n] (C_out, P) @ cols[n].T (P, K)``.

Speed (see tinyunet/threads.py): the samples of a batch are split between the cores, and each
core runs im2col -> matmul on its own samples, so a sample's columns are still in cache when
the matmul reads them, and the cores meet once per call. The column buffer is a per-thread
workspace, reused from call to call instead of allocated (and page-faulted) every time.

The reference kernels in ``tinyunet.kernels.reference.conv`` are the definition; the tests
hold these to them.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from ...threads import for_each_chunk


@njit(nogil=True, cache=True)
def _im2col(x, kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols):
    """Fill cols (C*kH*kW, H_out*W_out) from one sample x (C, H, W).

    For each kernel tap (kh, kw) the output columns whose input column falls inside the image
    form one range [ow_lo, ow_hi); the rest read padding. Computing that range once keeps the
    inner loop a branch-free strided copy.
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
                    row = oh * W_out
                    if ih < 0 or ih >= H:  # the whole output row reads padding
                        cols[r, row:row + W_out] = 0.0
                        continue
                    cols[r, row:row + ow_lo] = 0.0
                    for ow in range(ow_lo, ow_hi):
                        cols[r, row + ow] = x[c, ih, ow * sw + shift]
                    cols[r, row + ow_hi:row + W_out] = 0.0


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
                for ih in range(H_in):
                    oh = ih * sh - ph + kh * dh
                    if oh < 0 or oh >= H_out:
                        continue
                    col = ih * W_in
                    for iw in range(iw_lo, iw_hi):
                        y[c, oh, iw * sw + shift] += cols[r, col + iw]


_local = threading.local()


def _workspace(shape, dtype):
    """This thread's scratch array of ``shape``: grown when too small, otherwise reused."""
    size = int(np.prod(shape))
    buffers = _local.__dict__.setdefault("buffers", {})
    buf = buffers.get(np.dtype(dtype))
    if buf is None or buf.size < size:
        buf = buffers[np.dtype(dtype)] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def _is_pointwise(kH, kW, stride, padding):
    """A 1x1 kernel with stride 1 and no padding: the columns are the input itself."""
    return kH == 1 and kW == 1 and stride == (1, 1) and padding == (0, 0)


def conv2d(x, w, b, stride, padding, dilation):
    """y = conv2d(x, w) + b, x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None."""
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    H_out = (H + 2 * ph - dh * (kH - 1) - 1) // sh + 1
    W_out = (W + 2 * pw - dw * (kW - 1) - 1) // sw + 1
    K, P = C_in * kH * kW, H_out * W_out

    w_mat = w.reshape(C_out, K)
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)
    pointwise = _is_pointwise(kH, kW, stride, padding)

    def samples(ns):
        cols = None if pointwise else _workspace((K, P), x.dtype)
        for n in ns:
            if pointwise:
                cols = x[n].reshape(K, P)
            else:
                _im2col(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols)
            y_n = y[n].reshape(C_out, P)
            np.matmul(w_mat, cols, out=y_n)
            if b is not None:
                y_n += b[:, None]  # while the sample's output is still in cache

    for_each_chunk(samples, N)
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
    K, P = C_out * kH * kW, H * W

    w_t = w.reshape(C_in, K).T  # a transposed view: BLAS reads it as is, nothing is copied
    bias = np.zeros(C_out, dtype=x.dtype) if b is None else b
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)
    pointwise = _is_pointwise(kH, kW, stride, padding) and output_padding == (0, 0)

    def samples(ns):
        cols = None if pointwise else _workspace((K, P), x.dtype)
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
    N, C_in, H, W = x.shape
    _, C_out, H_out, W_out = grad_y.shape
    kH, kW = kernel_size
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    K, P = C_in * kH * kW, H_out * W_out
    pointwise = _is_pointwise(kH, kW, stride, padding) and (H_out, W_out) == (H, W)

    def samples(ns):
        cols = None if pointwise else _workspace((K, P), x.dtype)
        grad_w = np.zeros((C_out, K), dtype=x.dtype)
        term = np.empty((C_out, K), dtype=x.dtype)
        for n in ns:
            if pointwise:
                cols = x[n].reshape(K, P)
            else:
                _im2col(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols)
            np.matmul(grad_y[n].reshape(C_out, P), cols.T, out=term)
            grad_w += term
        return grad_w

    partial = for_each_chunk(samples, N)
    grad_w = np.zeros((C_out, K), dtype=x.dtype) if N == 0 else partial[0]
    for g in partial[1:]:
        grad_w += g
    return grad_w.reshape(C_out, C_in, kH, kW)
