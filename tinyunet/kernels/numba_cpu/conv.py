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

The reference kernels in ``tinyunet.kernels.reference.conv`` are the definition; the tests
hold these to them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _im2col(x, kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols):
    """Fill cols (C*kH*kW, H_out*W_out) from one sample x (C, H, W); one row per thread step."""
    C, H, W = x.shape
    for r in prange(C * kH * kW):
        c = r // (kH * kW)
        kh = (r // kW) % kH
        kw = r % kW
        for oh in range(H_out):
            ih = oh * sh - ph + kh * dh
            row = oh * W_out
            if ih < 0 or ih >= H:  # the whole output row reads padding
                for ow in range(W_out):
                    cols[r, row + ow] = 0.0
                continue
            for ow in range(W_out):
                iw = ow * sw - pw + kw * dw
                cols[r, row + ow] = x[c, ih, iw] if 0 <= iw < W else 0.0


@njit(parallel=True, cache=True)
def _col2im(cols, b, kH, kW, sh, sw, ph, pw, dh, dw, H_in, W_in, y):
    """y (C, H_out, W_out) = b + scatter-add of cols (C*kH*kW, H_in*W_in): im2col's adjoint.

    Each channel is one prange step, and a channel's columns only ever touch that channel's
    plane, so the threads never write to the same element.
    """
    C, H_out, W_out = y.shape
    for c in prange(C):
        y[c, :, :] = b[c]
        for kh in range(kH):
            for kw in range(kW):
                r = (c * kH + kh) * kW + kw
                for ih in range(H_in):
                    oh = ih * sh - ph + kh * dh
                    if oh < 0 or oh >= H_out:
                        continue
                    for iw in range(W_in):
                        ow = iw * sw - pw + kw * dw
                        if 0 <= ow < W_out:
                            y[c, oh, ow] += cols[r, ih * W_in + iw]


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
    cols = None if pointwise else np.empty((K, P), dtype=x.dtype)  # reused for every sample
    for n in range(N):
        if pointwise:
            cols = x[n].reshape(K, P)
        else:
            _im2col(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols)
        np.matmul(w_mat, cols, out=y[n].reshape(C_out, P))
    if b is not None:
        y += b.reshape(1, C_out, 1, 1)
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
    if _is_pointwise(kH, kW, stride, padding) and output_padding == (0, 0):
        for n in range(N):  # no scatter: every column lands on its own pixel
            np.matmul(w_t, x[n].reshape(C_in, P), out=y[n].reshape(C_out, P))
        y += bias.reshape(1, C_out, 1, 1)
        return y
    cols = np.empty((K, P), dtype=x.dtype)  # reused for every sample
    for n in range(N):
        np.matmul(w_t, x[n].reshape(C_in, P), out=cols)
        _col2im(cols, bias, kH, kW, sh, sw, ph, pw, dh, dw, H, W, y[n])
    return y


def conv2d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv2d(x, w): sum_n grad_y[n] (C_out, P) @ cols[n].T (P, K).

    P is grad_y's own spatial size, which may be smaller than conv2d's natural output.
    """
    N, C_in, H, W = x.shape
    _, C_out, H_out, W_out = grad_y.shape
    kH, kW = kernel_size
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    K, P = C_in * kH * kW, H_out * W_out

    pointwise = _is_pointwise(kH, kW, stride, padding) and (H_out, W_out) == (H, W)
    cols = None if pointwise else np.empty((K, P), dtype=x.dtype)
    grad_w = np.zeros((C_out, K), dtype=x.dtype)
    term = np.empty((C_out, K), dtype=x.dtype)
    for n in range(N):
        if pointwise:
            cols = x[n].reshape(K, P)
        else:
            _im2col(x[n], kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out, cols)
        np.matmul(grad_y[n].reshape(C_out, P), cols.T, out=term)
        grad_w += term
    return grad_w.reshape(C_out, C_in, kH, kW)
