"""3-D convolution, written as the formula: one loop per index, read against the math.

The 2-D convolution (reference/conv.py) with one more axis, depth, in front of height::

    y[n, co, od, oh, ow] = b[co] + sum_{ci, kd, kh, kw} w[co, ci, kd, kh, kw]
                                       * x[n, ci, od*s_D - p_D + kd*d_D,
                                                  oh*s_H - p_H + kh*d_H,
                                                  ow*s_W - p_W + kw*d_W]

where a position outside the input reads as zero (padding). Output sizes, per axis::

    out = (size + 2p - d(k - 1) - 1) // s + 1

The transposed convolution runs the same index map backwards: input voxel x[n, ci, id, ih, iw]
paints the kernel w[ci, :, :, :, :], scaled by itself, into the output at
(id*s_D - p_D + kd*d_D, ih*s_H - p_H + kh*d_H, iw*s_W - p_W + kw*d_W), where the output has

    out = (size - 1)s - 2p + d(k - 1) + output_padding + 1

voxels per axis. It is conv3d's adjoint (transpose). Slow on purpose: this is the definition
the fast kernels are tested against. Hyper-parameters arrive as (d, h, w) triples, already
checked by ``tinyunet.ops.conv3d``.
"""

from __future__ import annotations

import numpy as np


def _inside(index, size):
    return all(0 <= i < n for i, n in zip(index, size))


def conv3d(x, w, b, stride, padding, dilation):
    """y = conv3d(x, w) + b; x (N, C_in, D, H, W), w (C_out, C_in, kD, kH, kW), b (C_out,)."""
    # BEGIN SOLUTION task=2.1 extension=3d
    N, C_in = x.shape[:2]
    C_out, _, *kernel = w.shape
    size = x.shape[2:]
    D_out, H_out, W_out = (
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(size, kernel, stride, padding, dilation)
    )
    (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = stride, padding, dilation
    kD, kH, kW = kernel

    y = np.zeros((N, C_out, D_out, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for co in range(C_out):
            for od in range(D_out):
                for oh in range(H_out):
                    for ow in range(W_out):
                        total = b[co] if b is not None else 0.0
                        for ci in range(C_in):
                            for kd in range(kD):
                                for kh in range(kH):
                                    for kw in range(kW):
                                        i = (od * sd - pd + kd * dd,
                                             oh * sh - ph + kh * dh,
                                             ow * sw - pw + kw * dw)
                                        if _inside(i, size):  # outside: zero padding
                                            total += w[co, ci, kd, kh, kw] * x[(n, ci, *i)]
                        y[n, co, od, oh, ow] = total
    return y
    # END SOLUTION


def conv_transpose3d(x, w, b, stride, padding, output_padding, dilation):
    """Transposed conv; x (N, C_in, D, H, W), w (C_in, C_out, kD, kH, kW), b (C_out,) or None.

    Output size per axis: (size - 1)*s - 2p + d*(k - 1) + output_padding + 1.
    """
    # BEGIN SOLUTION task=2.2 extension=3d
    N, C_in, D, H, W = x.shape
    _, C_out, *kernel = w.shape
    out_size = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, k, s, p, op, d in zip(x.shape[2:], kernel, stride, padding, output_padding,
                                     dilation)
    )
    (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = stride, padding, dilation
    kD, kH, kW = kernel

    y = np.zeros((N, C_out, *out_size), dtype=x.dtype)
    for n in range(N):
        for ci in range(C_in):
            for id_ in range(D):
                for ih in range(H):
                    for iw in range(W):
                        # Scatter: x[n, ci, id, ih, iw] paints the kernel w[ci] into y.
                        for kd in range(kD):
                            for kh in range(kH):
                                for kw in range(kW):
                                    o = (id_ * sd - pd + kd * dd,
                                         ih * sh - ph + kh * dh,
                                         iw * sw - pw + kw * dw)
                                    if _inside(o, out_size):  # padding is cropped away
                                        for co in range(C_out):
                                            y[(n, co, *o)] += (x[n, ci, id_, ih, iw]
                                                               * w[ci, co, kd, kh, kw])
    if b is not None:
        y += b.reshape(1, C_out, 1, 1, 1)
    return y
    # END SOLUTION


def conv3d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv3d(x, w): conv3d's formula differentiated by w[co, ci, kd, kh, kw].

    grad_w[co, ci, kd, kh, kw] = sum_{n, od, oh, ow} grad_y[n, co, od, oh, ow]
                                     * x[n, ci, od*s_D - p_D + kd*d_D, oh*s_H - p_H + kh*d_H,
                                               ow*s_W - p_W + kw*d_W]

    The sum runs over grad_y's own spatial size, which may be smaller than conv3d's natural
    output (the transposed conv's weight gradient relies on that).
    """
    # BEGIN SOLUTION task=2.3 extension=3d
    N, C_in = x.shape[:2]
    size = x.shape[2:]
    _, C_out, D_out, H_out, W_out = grad_y.shape
    kD, kH, kW = kernel_size
    (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = stride, padding, dilation

    grad_w = np.zeros((C_out, C_in, kD, kH, kW), dtype=x.dtype)
    for co in range(C_out):
        for ci in range(C_in):
            for kd in range(kD):
                for kh in range(kH):
                    for kw in range(kW):
                        total = 0.0
                        for n in range(N):
                            for od in range(D_out):
                                for oh in range(H_out):
                                    for ow in range(W_out):
                                        i = (od * sd - pd + kd * dd,
                                             oh * sh - ph + kh * dh,
                                             ow * sw - pw + kw * dw)
                                        if _inside(i, size):
                                            total += (grad_y[n, co, od, oh, ow]
                                                      * x[(n, ci, *i)])
                        grad_w[co, ci, kd, kh, kw] = total
    return grad_w
    # END SOLUTION
