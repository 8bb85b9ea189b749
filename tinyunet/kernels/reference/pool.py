"""Pooling, as plain loops: one output pixel summarises one window of its plane.

For output pixel (i, j) the window starts at input row ``i * s_H - p_H`` and column
``j * s_W - p_W``; max pooling reads every ``d``-th pixel from there (``dilation``), k_H x k_W
taps spanning ``d_H (k_H - 1) + 1`` rows. Rows/columns outside ``[0, H) x [0, W)`` are padding.
The output size counts the windows that fit, rounded down, or up with ``ceil_mode``::

    H_out = floor((H + 2 p_H - d_H (k_H - 1) - 1) / s_H) + 1                (ceil_mode=False)
    H_out =  ceil((H + 2 p_H - d_H (k_H - 1) - 1) / s_H) + 1                (ceil_mode=True)

and with ``ceil_mode`` the last window is dropped if it would *start* in the bottom padding
(``(H_out - 1) s_H >= H + p_H``): a window must hold a real or a top/left padding pixel.

max pooling   y[i, j] = max over the window's taps   (padding counts as -inf: it never wins)
avg pooling   y[i, j] = sum over the window / divisor (no dilation), where the divisor is
              ``divisor_override`` if given, else the window's size clipped to the *padded*
              input if count_include_pad (padding counts as zeros; a ceil_mode window reaching
              past the padding counts only up to its edge), else its number of real pixels.
adaptive avg  output (i, j) of an (H_out, W_out) grid averages rows
              ``floor(i H / H_out) .. ceil((i + 1) H / H_out) - 1`` (likewise columns): windows
              that tile the input with the size of the output chosen, not of the window.

Backward: each output's gradient flows back to the pixels that made it, *added* where windows
overlap (stride < kernel): to the one argmax pixel for max, spread evenly for the averages.
"""

import math

import numpy as np


def pool_output_size(size, k, s, p, d, ceil_mode):
    """H_out of the module docstring, for one axis (PyTorch's ``pooling_output_shape``)."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window would start in the bottom/right padding
    return out


def _first_tap(start, d):
    """The first tap ``start + a*d`` (a >= 0) that lies inside the input (>= 0)."""
    return start if start >= 0 else start + (-start + d - 1) // d * d


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """y[n, c, i, j] = max of the window's taps; argmax = flat index ``h * W + w`` of it.

    Tie rule (PyTorch's CPU rule): the taps are scanned in row-major order and a value
    replaces the running maximum only if it is strictly greater -- so among equal maxima the
    *first* one wins -- or if it is NaN, so a NaN propagates (the last NaN scanned wins).
    """
    # BEGIN SOLUTION task=3.1 hint="save the flat index h * W + w of each window's maximum"
    N, C, H, W = x.shape
    (kH, kW), (sH, sW), (pH, pW), (dH, dW) = kernel_size, stride, padding, dilation
    H_out = pool_output_size(H, kH, sH, pH, dH, ceil_mode)
    W_out = pool_output_size(W, kW, sW, pW, dW, ceil_mode)
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    argmax = np.empty((N, C, H_out, W_out), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    h0, w0 = i * sH - pH, j * sW - pW
                    best, best_index = -math.inf, _first_tap(h0, dH) * W + _first_tap(w0, dW)
                    for a in range(kH):
                        for b in range(kW):
                            h, w = h0 + a * dH, w0 + b * dW
                            if not (0 <= h < H and 0 <= w < W):
                                continue  # padding is -inf: it never wins
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


def _avg_window(i, j, H, W, kernel_size, stride, padding, count_include_pad,
                divisor_override):
    """The window (h_lo, h_hi, w_lo, w_hi) of output (i, j), clipped to the image, and its
    divisor (see the module docstring)."""
    (kH, kW), (sH, sW), (pH, pW) = kernel_size, stride, padding
    h0, w0 = i * sH - pH, j * sW - pW
    h1, w1 = min(h0 + kH, H + pH), min(w0 + kW, W + pW)   # clipped to the padded input
    padded_count = (h1 - h0) * (w1 - w0)
    h_lo, h_hi, w_lo, w_hi = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
    if divisor_override is not None:
        divisor = divisor_override
    elif count_include_pad:
        divisor = padded_count
    else:
        divisor = (h_hi - h_lo) * (w_hi - w_lo)
    return h_lo, h_hi, w_lo, w_hi, divisor


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    """y[n, c, i, j] = (sum of the real pixels of the window) / divisor."""
    N, C, H, W = x.shape
    H_out = pool_output_size(H, kernel_size[0], stride[0], padding[0], 1, ceil_mode)
    W_out = pool_output_size(W, kernel_size[1], stride[1], padding[1], 1, ceil_mode)
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    h_lo, h_hi, w_lo, w_hi, divisor = _avg_window(
                        i, j, H, W, kernel_size, stride, padding, count_include_pad,
                        divisor_override)
                    total = 0.0
                    for h in range(h_lo, h_hi):
                        for w in range(w_lo, w_hi):
                            total += x[n, c, h, w]
                    y[n, c, i, j] = total / divisor
    return y


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding, count_include_pad,
                        divisor_override):
    """grad_x[h, w] += grad_y[i, j] / divisor for every window (i, j) that holds pixel (h, w).

    (ceil_mode only decides how many windows there are, which grad_y's shape already says.)
    """
    N, C, H, W = input_shape
    _, _, H_out, W_out = grad_y.shape
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    h_lo, h_hi, w_lo, w_hi, divisor = _avg_window(
                        i, j, H, W, kernel_size, stride, padding, count_include_pad,
                        divisor_override)
                    share = grad_y[n, c, i, j] / divisor
                    for h in range(h_lo, h_hi):
                        for w in range(w_lo, w_hi):
                            grad_x[n, c, h, w] += share
    return grad_x


def adaptive_window(i, size, out_size):
    """Rows ``floor(i * size / out) .. ceil((i + 1) * size / out)`` (end excluded) of output i."""
    return (i * size) // out_size, -(-((i + 1) * size) // out_size)


def adaptive_avg_pool2d(x, out_size):
    """y[n, c, i, j] = mean of x over the adaptive window of (i, j)."""
    N, C, H, W = x.shape
    H_out, W_out = out_size
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                h_lo, h_hi = adaptive_window(i, H, H_out)
                for j in range(W_out):
                    w_lo, w_hi = adaptive_window(j, W, W_out)
                    total = 0.0
                    for h in range(h_lo, h_hi):
                        for w in range(w_lo, w_hi):
                            total += x[n, c, h, w]
                    y[n, c, i, j] = total / ((h_hi - h_lo) * (w_hi - w_lo))
    return y


def adaptive_avg_pool2d_backward(grad_y, input_shape):
    """grad_x[h, w] += grad_y[i, j] / (window size) for every window (i, j) holding (h, w)."""
    N, C, H, W = input_shape
    _, _, H_out, W_out = grad_y.shape
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                h_lo, h_hi = adaptive_window(i, H, H_out)
                for j in range(W_out):
                    w_lo, w_hi = adaptive_window(j, W, W_out)
                    share = grad_y[n, c, i, j] / ((h_hi - h_lo) * (w_hi - w_lo))
                    for h in range(h_lo, h_hi):
                        for w in range(w_lo, w_hi):
                            grad_x[n, c, h, w] += share
    return grad_x
