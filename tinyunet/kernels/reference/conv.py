"""Convolution, written as the formula: one loop per index, read line by line against the math.

Convolution (really cross-correlation, as in every deep-learning library)::

    y[n, co, oh, ow] = b[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * x[n, ci, oh*s - p + kh*d,
                                                                          ow*s - p + kw*d]

where a position outside the input reads as zero (that is what padding means). The
transposed convolution runs the same index map backwards: each *input* value x[n, ci, ih, iw]
paints a copy of the kernel w[ci, :, :, :], scaled by itself, into the output at rows
ih*s - p + kh*d and columns iw*s - p + kw*d. It is the adjoint (the transpose) of conv2d.

These loops are slow on purpose: they are the definition the fast kernels are tested against.
Hyper-parameters arrive as (h, w) pairs, already validated by ``tinyunet.ops.conv``.
"""

from __future__ import annotations

import numpy as np


def conv2d(x, w, b, stride, padding, dilation):
    """y = conv2d(x, w) + b, x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None."""
    # BEGIN SOLUTION task=2.1 hint="w[co, ci, kh, kw] meets x[n, ci, oh*s - p + kh*d, ...]"
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    H_out = (H + 2 * ph - dh * (kH - 1) - 1) // sh + 1
    W_out = (W + 2 * pw - dw * (kW - 1) - 1) // sw + 1

    y = np.zeros((N, C_out, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for co in range(C_out):
            for oh in range(H_out):
                for ow in range(W_out):
                    total = b[co] if b is not None else 0.0
                    for ci in range(C_in):
                        for kh in range(kH):
                            for kw in range(kW):
                                ih = oh * sh - ph + kh * dh
                                iw = ow * sw - pw + kw * dw
                                if 0 <= ih < H and 0 <= iw < W:  # outside: zero padding
                                    total += w[co, ci, kh, kw] * x[n, ci, ih, iw]
                    y[n, co, oh, ow] = total
    return y
    # END SOLUTION


def conv_transpose2d(x, w, b, stride, padding, output_padding, dilation):
    """Transposed conv, x (N, C_in, H, W), w (C_in, C_out, kH, kW), b (C_out,) or None.

    Output size H_out = (H - 1)*s - 2p + d*(kH - 1) + output_padding + 1 (likewise W_out).
    """
    # BEGIN SOLUTION task=2.2 hint="scatter: x[n, ci, ih, iw] * w[ci, co] lands at ih*s - p + kh*d"
    N, C_in, H, W = x.shape
    _, C_out, kH, kW = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    H_out = (H - 1) * sh - 2 * ph + dh * (kH - 1) + oph + 1
    W_out = (W - 1) * sw - 2 * pw + dw * (kW - 1) + opw + 1

    y = np.zeros((N, C_out, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for ci in range(C_in):
            for ih in range(H):
                for iw in range(W):
                    # Scatter: x[n, ci, ih, iw] paints the kernel w[ci] into the output.
                    for kh in range(kH):
                        for kw in range(kW):
                            oh = ih * sh - ph + kh * dh
                            ow = iw * sw - pw + kw * dw
                            if 0 <= oh < H_out and 0 <= ow < W_out:  # padding is cropped away
                                for co in range(C_out):
                                    y[n, co, oh, ow] += x[n, ci, ih, iw] * w[ci, co, kh, kw]
    if b is not None:
        y += b.reshape(1, C_out, 1, 1)
    return y
    # END SOLUTION


def conv2d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv2d(x, w): the formula of conv2d, differentiated by w[co, ci, kh, kw].

    grad_w[co, ci, kh, kw] = sum_{n, oh, ow} grad_y[n, co, oh, ow] * x[n, ci, oh*s - p + kh*d,
                                                                           ow*s - p + kw*d]

    The sum runs over grad_y's own spatial size, which may be smaller than conv2d's natural
    output (the transposed conv's weight gradient relies on that).
    """
    # BEGIN SOLUTION task=2.3 hint="differentiate the conv2d formula by w[co, ci, kh, kw]"
    N, C_in, H, W = x.shape
    _, C_out, H_out, W_out = grad_y.shape
    kH, kW = kernel_size
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation

    grad_w = np.zeros((C_out, C_in, kH, kW), dtype=x.dtype)
    for co in range(C_out):
        for ci in range(C_in):
            for kh in range(kH):
                for kw in range(kW):
                    total = 0.0
                    for n in range(N):
                        for oh in range(H_out):
                            for ow in range(W_out):
                                ih = oh * sh - ph + kh * dh
                                iw = ow * sw - pw + kw * dw
                                if 0 <= ih < H and 0 <= iw < W:
                                    total += grad_y[n, co, oh, ow] * x[n, ci, ih, iw]
                    grad_w[co, ci, kh, kw] = total
    return grad_w
    # END SOLUTION
