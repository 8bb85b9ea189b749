"""Pooling, as plain loops: one output pixel summarises one k_H x k_W window of its plane.

For output pixel (i, j) the window starts at input row ``i * s_H - p_H`` and column
``j * s_W - p_W`` and spans ``k_H x k_W`` pixels; rows/columns outside ``[0, H) x [0, W)``
are padding. The output size is the number of whole windows that fit::

    H_out = (H + 2 p_H - k_H) // s_H + 1          (and the same for W)

max pooling   y[i, j] = max over the window   (padding counts as -inf: it never wins)
avg pooling   y[i, j] = sum over the window / divisor
              divisor = k_H * k_W if count_include_pad (padding counts as zeros), else the
              number of real pixels in the window.

Backward: each output's gradient flows back to the pixels that made it, *added* where windows
overlap (stride < kernel): to the one argmax pixel for max, spread evenly for avg.
"""

import math

import numpy as np


def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def max_pool2d(x, kernel_size, stride, padding):
    """y[n, c, i, j] = max of the window; argmax = flat index ``h * W + w`` of that maximum.

    Tie rule (PyTorch's CPU rule): the window is scanned in row-major order and a value
    replaces the running maximum only if it is strictly greater -- so among equal maxima the
    *first* one wins -- or if it is NaN, so a NaN propagates (the last NaN scanned wins).
    """
    # BEGIN SOLUTION task=3.1 hint="save the flat index h * W + w of each window's maximum"
    N, C, H, W = x.shape
    (kH, kW), (sH, sW), (pH, pW) = kernel_size, stride, padding
    H_out, W_out = _out_size(H, kH, sH, pH), _out_size(W, kW, sW, pW)
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    argmax = np.empty((N, C, H_out, W_out), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    # the window clipped to the image: padding is -inf, so it can be skipped
                    h0, w0 = i * sH - pH, j * sW - pW
                    h_lo, h_hi = max(h0, 0), min(h0 + kH, H)
                    w_lo, w_hi = max(w0, 0), min(w0 + kW, W)
                    best, best_index = -math.inf, h_lo * W + w_lo
                    for h in range(h_lo, h_hi):
                        for w in range(w_lo, w_hi):
                            v = x[n, c, h, w]
                            if v > best or math.isnan(v):
                                best, best_index = v, h * W + w
                    y[n, c, i, j] = best
                    argmax[n, c, i, j] = best_index
    return y, argmax
    # END SOLUTION


def max_pool2d_backward(grad_y, argmax, input_shape):
    """grad_x[argmax[i, j]] += grad_y[i, j]: only the winning pixel moved the output."""
    # BEGIN SOLUTION task=3.1 hint="windows overlap when stride < kernel: add, do not assign"
    N, C, H, W = input_shape
    grad_x = np.zeros((N, C, H * W), dtype=grad_y.dtype)
    _, _, H_out, W_out = grad_y.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    grad_x[n, c, argmax[n, c, i, j]] += grad_y[n, c, i, j]
    return grad_x.reshape(N, C, H, W)
    # END SOLUTION


def _avg_window(i, j, H, W, kernel_size, stride, padding, count_include_pad):
    """The clipped window (h_lo, h_hi, w_lo, w_hi) of output (i, j) and its divisor."""
    (kH, kW), (sH, sW), (pH, pW) = kernel_size, stride, padding
    h0, w0 = i * sH - pH, j * sW - pW
    padded_count = kH * kW  # without ceil_mode no window reaches past the padding
    h_lo, h_hi, w_lo, w_hi = max(h0, 0), min(h0 + kH, H), max(w0, 0), min(w0 + kW, W)
    real_count = (h_hi - h_lo) * (w_hi - w_lo)
    return h_lo, h_hi, w_lo, w_hi, padded_count if count_include_pad else real_count


def avg_pool2d(x, kernel_size, stride, padding, count_include_pad):
    """y[n, c, i, j] = (sum of the real pixels of the window) / divisor."""
    N, C, H, W = x.shape
    H_out = _out_size(H, kernel_size[0], stride[0], padding[0])
    W_out = _out_size(W, kernel_size[1], stride[1], padding[1])
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    h_lo, h_hi, w_lo, w_hi, divisor = _avg_window(
                        i, j, H, W, kernel_size, stride, padding, count_include_pad)
                    total = 0.0
                    for h in range(h_lo, h_hi):
                        for w in range(w_lo, w_hi):
                            total += x[n, c, h, w]
                    y[n, c, i, j] = total / divisor
    return y


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding, count_include_pad):
    """grad_x[h, w] += grad_y[i, j] / divisor for every window (i, j) that holds pixel (h, w)."""
    N, C, H, W = input_shape
    _, _, H_out, W_out = grad_y.shape
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    h_lo, h_hi, w_lo, w_hi, divisor = _avg_window(
                        i, j, H, W, kernel_size, stride, padding, count_include_pad)
                    share = grad_y[n, c, i, j] / divisor
                    for h in range(h_lo, h_hi):
                        for w in range(w_lo, w_hi):
                            grad_x[n, c, h, w] += share
    return grad_x
