"""What the graded tests judge with: NumPy oracles and a gradient check that needs no engine.

NumPy only (no tinyunet): the oracles are written differently from the loops the students
write (gathers, scatters, einsum, interpolation matrices), so they are a second opinion, not a
copy; every comparison says where it disagrees.
"""

from __future__ import annotations

import math

import numpy as np


def assert_close(actual, expected, what: str, rtol=1e-6, atol=1e-8):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} values differ; at {where} "
                             f"got {actual[where]:.6g}, expected {expected[where]:.6g}")


def check_backward(fn, context, arrays, rng, eps=1e-6, rtol=1e-4, atol=1e-7, **kwargs):
    """``fn.backward`` against central differences of ``fn.forward``, in float64, no engine.

    For a random upstream gradient v, the backward must return d<v, f(x)>/dx_i for every
    input i; the numeric value nudges each element of each input by +-eps.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    ctx = context((True,) * len(arrays))
    y = np.asarray(fn.forward(ctx, *arrays, **kwargs))
    v = rng.standard_normal(y.shape)
    grads = fn.backward(ctx, v.copy())
    grads = grads if isinstance(grads, tuple) else (grads,)
    if len(grads) != len(arrays):
        raise AssertionError(f"{fn.__name__}.backward returned {len(grads)} gradients for "
                             f"{len(arrays)} inputs")

    def loss(xs):
        return float((np.asarray(fn.forward(context((False,) * len(xs)), *xs, **kwargs)) * v)
                     .sum())

    for i, (a, g) in enumerate(zip(arrays, grads)):
        if g is None:
            raise AssertionError(f"{fn.__name__}.backward returned None for input {i}")
        numeric = np.zeros_like(a)
        flat = numeric.reshape(-1)
        for k in range(a.size):
            plus, minus = [x.copy() for x in arrays], [x.copy() for x in arrays]
            plus[i].reshape(-1)[k] += eps
            minus[i].reshape(-1)[k] -= eps
            flat[k] = (loss(plus) - loss(minus)) / (2 * eps)
        assert_close(np.broadcast_to(g, a.shape), numeric,
                     f"{fn.__name__}.backward, gradient of input {i} {a.shape}", rtol, atol)


# ----- convolution ----------------------------------------------------------------------------
def _windows(x, out_size, kernel, stride, dilation):
    """x[..., oh*s + kh*d, ow*s + kw*d] as (N, C, H_out, kH, W_out, kW) (x already padded)."""
    rows = (np.arange(out_size[0])[:, None] * stride[0] + np.arange(kernel[0]) * dilation[0])
    cols = (np.arange(out_size[1])[:, None] * stride[1] + np.arange(kernel[1]) * dilation[1])
    return x[:, :, rows[:, :, None, None], cols[None, None, :, :]]


def conv_out(size, k, s, p, d, op=0, transposed=False):
    if transposed:
        return (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d(x, w, b, stride, padding, dilation):
    (ph, pw), (kH, kW) = padding, w.shape[2:]
    out = tuple(conv_out(x.shape[2 + i], w.shape[2 + i], stride[i], padding[i], dilation[i])
                for i in range(2))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.einsum("nciajb,ocab->noij", _windows(xp, out, (kH, kW), stride, dilation), w)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def conv2d_grad_weight(x, grad_y, kernel, stride, padding, dilation):
    (ph, pw) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    patches = _windows(xp, grad_y.shape[2:], kernel, stride, dilation)
    return np.einsum("nciajb,noij->ocab", patches, grad_y)


def conv_transpose2d(x, w, b, stride, padding, output_padding, dilation):
    """Scatter: x[n, ci, ih, iw] * w[ci, co, kh, kw] lands at (ih*s + kh*d, iw*s + kw*d) of the
    uncropped output, then ``padding`` is cropped off each border."""
    N, _, H, W = x.shape
    C_out, kH, kW = w.shape[1:]
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    full = ((H - 1) * sh + dh * (kH - 1) + 1 + oph, (W - 1) * sw + dw * (kW - 1) + 1 + opw)
    y = np.zeros((N, C_out) + full)
    rows = np.arange(H)[:, None] * sh + np.arange(kH) * dh
    cols = np.arange(W)[:, None] * sw + np.arange(kW) * dw
    np.add.at(y, (slice(None), slice(None), rows[:, :, None, None], cols[None, None, :, :]),
              np.einsum("nchw,cokl->nohkwl", x, w))
    out = (conv_out(H, kH, sh, ph, dh, oph, True), conv_out(W, kW, sw, pw, dw, opw, True))
    y = y[:, :, ph: ph + out[0], pw: pw + out[1]]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


# ----- pooling and upsampling -------------------------------------------------------------------
def max_pool2d(x, kernel, stride, padding):
    """Values and flat argmax ``h * W + w`` (the first maximum of a window wins ties)."""
    N, C, H, W = x.shape
    (kH, kW), (sH, sW), (pH, pW) = kernel, stride, padding
    out = ((H + 2 * pH - kH) // sH + 1, (W + 2 * pW - kW) // sW + 1)
    xp = np.pad(x, ((0, 0), (0, 0), (pH, pH), (pW, pW)), constant_values=-np.inf)
    win = _windows(xp, out, kernel, stride, (1, 1)).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(N, C, out[0], out[1], kH * kW)
    best = win.argmax(axis=-1)
    rows = np.arange(out[0])[:, None] * sH - pH + best // kW
    cols = np.arange(out[1])[None, :] * sW - pW + best % kW
    return win.max(axis=-1), rows * W + cols


def interpolation_matrix(size_in, size_out, mode, align_corners=False):
    """M (out, in) with y = M x along one axis: nearest reads one source, linear two."""
    M = np.zeros((size_out, size_in))
    scale = size_in / size_out
    for dst in range(size_out):
        if mode == "nearest":
            src = min(int(math.floor(np.float32(dst) * np.float32(scale))), size_in - 1)
            M[dst, src] = 1.0
            continue
        if align_corners:
            src = dst * (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        else:
            src = max((dst + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(math.floor(src)), size_in - 1)
        lam = min(max(src - i0, 0.0), 1.0)
        M[dst, i0] += 1 - lam
        M[dst, min(i0 + 1, size_in - 1)] += lam
    return M


# ----- losses -----------------------------------------------------------------------------------
def log_softmax(z, axis=1):
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def cross_entropy(z, y, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    C = z.shape[1]
    log_p = np.moveaxis(log_softmax(z), 1, -1).reshape(-1, C)  # one row per position
    y = y.reshape(-1)
    kept = y != ignore_index
    y_safe = np.where(kept, y, 0)
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    nll = -log_p[np.arange(len(y)), y_safe]
    smooth = -(log_p * w).sum(axis=1)
    e = label_smoothing
    loss = kept * ((1 - e) * w[y_safe] * nll + (e / C) * smooth)
    if reduction == "none":
        return loss.reshape(z.shape[:1] + z.shape[2:])
    return loss.sum() if reduction == "sum" else loss.sum() / (kept * w[y_safe]).sum()


def soft_dice(z, target, activation="softmax", include_background=False, smooth_nr=1e-5,
              smooth_dr=1e-5, squared_pred=False, batch=False):
    """Mean over (image, class) of 1 - (2 sum p g + smooth_nr) / (sum p + sum g + smooth_dr)."""
    if activation == "softmax":
        p = np.exp(log_softmax(z))
        g = (np.arange(z.shape[1]).reshape(1, -1, *[1] * (z.ndim - 2)) == target[:, None])
        first = 0 if include_background else 1
    else:
        p = 1 / (1 + np.exp(-z))
        g, first = target.reshape(z.shape), 0
    p, g = p[:, first:], g[:, first:].astype(np.float64)
    axes = tuple(a for a in range(z.ndim) if a != 1 and (batch or a != 0))
    q = p * p if squared_pred else p
    inter, size_p, size_g = (p * g).sum(axes), q.sum(axes), (g * g if squared_pred else g).sum(axes)
    return (1 - (2 * inter + smooth_nr) / (size_p + size_g + smooth_dr)).mean()
