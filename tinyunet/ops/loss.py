"""Per-pixel losses: cross-entropy, binary cross-entropy and MSE (soft Dice is in ``dice.py``).

Logits are ``(N, C, d1, d2, ...)``: a batch, a class axis (dim 1, as in PyTorch), any number of
spatial axes (``(N, C)`` for plain classification, ``(N, C, H, W)`` for a U-Net's output).

Each loss is one ``Function`` whose backward is written from the formula in its docstring; a
thin wrapper below it checks the inputs and says exactly what is wrong with them. Two results
are worth knowing before reading:

* cross-entropy's gradient is ``softmax(z) - onehot(y)``: the log-softmax and the negative
  log-likelihood are fused, so no small probability is ever divided by;
* cross-entropy averages over pixels, so a rare class (a 4-pixel tumour in 100 pixels) barely
  moves it; soft Dice (``dice.py``) measures overlap per class and ignores the background.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


# ----- helpers shared by the losses -------------------------------------------------------------
def _array(x):
    """The array inside a Tensor, or the array-like itself as an array (None stays None)."""
    if x is None or isinstance(x, Tensor):
        return None if x is None else x.data
    return x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)


def _check_reduction(loss, reduction, allowed=REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{loss}: reduction must be one of {allowed}, got {reduction!r}")


def _check_finite(loss, name, x):
    """A NaN or inf reaching a loss means the run has already diverged: stop it here, loudly."""
    xp = get_array_module(x)
    if x.dtype.kind == "f" and not bool(xp.isfinite(x).all()):
        nans, infs = int(xp.isnan(x).sum()), int(xp.isinf(x).sum())
        raise ValueError(
            f"{loss}: {name} of shape {tuple(x.shape)} contain {nans} NaN and {infs} inf values; "
            "the loss cannot handle them. Training has probably diverged: lower the learning "
            "rate, check the inputs are normalised, look for a log or division of zero upstream"
        )


def _check_float(loss, name, x):
    if x.dtype.kind != "f":
        raise ValueError(f"{loss}: {name} must be floating point, got dtype {x.dtype}")


def _listed(values, limit=8):
    values = sorted(set(values.ravel().tolist()))
    return str(values[:limit])[:-1] + (", ...]" if len(values) > limit else "]")


def _class_indices(loss, logits, target, ignore_index=None):
    """Check an integer target of shape (N, d1, ...) against logits (N, C, d1, ...)."""
    expected = logits.shape[:1] + logits.shape[2:]
    if target.dtype.kind not in "iu":
        raise ValueError(
            f"{loss}: target must hold integer class indices, got dtype {target.dtype} "
            "(convert a mask with .astype(int) or .long(); probability targets are not supported)"
        )
    if tuple(target.shape) != expected:
        raise ValueError(
            f"{loss}: target has shape {tuple(target.shape)} but logits {tuple(logits.shape)} "
            f"need a target of shape {expected} (the logits without the class dim 1)"
        )
    C = logits.shape[1]
    outside = (target < 0) | (target >= C)
    if ignore_index is not None:
        outside &= target != ignore_index
    if bool(outside.any()):
        ignoring = "" if ignore_index is None else f" and ignore_index={ignore_index}"
        raise ValueError(
            f"{loss}: target holds values {_listed(target[outside])} outside the {C} classes "
            f"[0, {C}){ignoring} (a 0/255 mask needs target // 255)"
        )


def _class_weight(loss, weight, logits):
    if weight is None:
        return None
    weight = _array(weight)
    if tuple(weight.shape) != (logits.shape[1],):
        raise ValueError(
            f"{loss}: weight has shape {tuple(weight.shape)} but logits {tuple(logits.shape)} "
            f"have C = {logits.shape[1]} classes along dim 1; it must have shape "
            f"({logits.shape[1]},)"
        )
    return weight.astype(logits.dtype, copy=False)


def _reduce(loss, reduction, count):
    """Apply a reduction; ``count`` is what "mean" divides by."""
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / count


def _reduce_backward(grad, reduction, count, shape):
    """dL/d(loss) for each element, from dL/d(reduced loss): the adjoint of ``_reduce``."""
    if reduction == "none":
        return grad
    scale = grad if reduction == "sum" else grad / count
    return get_array_module(grad).broadcast_to(scale, shape)


def _softmax(z, axis=1):
    e = get_array_module(z).exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(z):
    xp = get_array_module(z)
    e = xp.exp(-abs(z))  # never overflows: e^-|z| <= 1
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def _softplus_neg(z):
    """log(1 + e^-z) = max(-z, 0) + log(1 + e^-|z|), finite for any z."""
    xp = get_array_module(z)
    return xp.maximum(-z, 0) + xp.log1p(xp.exp(-abs(z)))


# ----- cross-entropy ----------------------------------------------------------------------------
# BEGIN SOLUTION task=4.1 hint="log-softmax minus its max; the gradient is p - onehot"
class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over the class dim 1.

    At each position i (a sample, or one pixel of one image) with logits z_i, p = softmax(z_i),
    class index y_i, class weights w (1 by default), pixel weight m_i (1 by default, 0 where
    y_i == ignore_index) and label smoothing e over C classes:

        l_i = m_i [ (1 - e) w_{y_i} (-log p_{y_i})  +  (e / C) sum_c w_c (-log p_c) ]

    reduction "none" gives l, "sum" gives sum_i l_i, "mean" gives sum_i l_i / sum_i m_i w_{y_i}:
    with m = 1 that is exactly PyTorch (divide by the weights of the non-ignored targets).

    Since d(-log p_k)/dz_c = p_c - [k == c], the gradient is

        dl_i/dz_i = m_i [ ((1 - e) w_{y_i} + (e / C) sum_c w_c) p - (1 - e) w_{y_i} onehot(y_i)
                          - (e / C) w ]

    which for w = 1 is m_i (p - q), q the smoothed one-hot target: softmax minus target, with
    no division by a probability that may have underflowed to zero.
    """

    @staticmethod
    def forward(ctx, z, target=None, weight=None, pixel_weight=None, ignore_index=-100,
                reduction="mean", label_smoothing=0.0):
        xp = get_array_module(z)
        C, e = z.shape[1], label_smoothing
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        kept = target != ignore_index
        y = xp.where(kept, target, 0)  # any valid index where ignored: m_i = 0 cancels it
        w = xp.ones(C, dtype=z.dtype) if weight is None else weight
        w_col = w.reshape((1, C) + (1,) * (z.ndim - 2))  # broadcasts along the class dim
        w_y = w[y]
        m = kept.astype(z.dtype) if pixel_weight is None else pixel_weight * kept
        nll = -xp.take_along_axis(log_p, y[:, None], axis=1)[:, 0]
        smooth = -(w_col * log_p).sum(axis=1)
        loss = m * ((1 - e) * w_y * nll + (e / C) * smooth)
        ctx.save_for_backward(log_p, y, w_col, w_y, m)
        ctx.reduction, ctx.e = reduction, e
        ctx.count = (m * w_y).sum()  # 0 when every target is ignored: the mean is NaN, as torch
        with np.errstate(invalid="ignore", divide="ignore"):
            return _reduce(loss, reduction, ctx.count)

    @staticmethod
    def backward(ctx, grad):
        log_p, y, w_col, w_y, m = ctx.saved_tensors
        xp = get_array_module(log_p)
        C, e = log_p.shape[1], ctx.e
        p = xp.exp(log_p)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = _reduce_backward(grad, ctx.reduction, ctx.count, m.shape) * m
        a = (1 - e) * w_y  # weight of the one-hot part
        onehot = xp.arange(C).reshape(w_col.shape) == y[:, None]
        dz = (a + (e / C) * w_col.sum())[:, None] * p - a[:, None] * onehot - (e / C) * w_col
        return (g[:, None] * dz,)
# END SOLUTION


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  pixel_weight=None, label_smoothing=0.0):
    """Cross-entropy of logits (N, C, d1, ...) against class indices (N, d1, ...), as torch.

    ``weight`` (C,) weighs classes; ``pixel_weight`` (N, d1, ...) is the original U-Net's weight
    map w(x) (pixels on the thin borders between touching cells weigh more) and multiplies each
    position's loss. With reduction "mean" the sum is divided by the sum of the *effective*
    weights m_i w_{y_i} of the non-ignored positions: a weighted average. So a map of ones (or
    no map) gives PyTorch's result, and scaling the map by a constant changes which pixels
    matter but not the size of the loss or of the step (dividing by the pixel count instead
    would turn a map with w0 = 10 into a ten-fold learning rate). The paper's energy
    sum_x w(x) log p is reduction="sum". Logits (C,) with a scalar target are one sample.
    """
    z = _array(logits)
    if z.ndim == 1:  # one unbatched sample, as torch allows
        logits = Tensor._lift(logits).reshape(1, -1)
        out = cross_entropy(logits, _array(target).reshape(1), weight, ignore_index,
                            reduction, pixel_weight, label_smoothing)
        return out.reshape(()) if reduction == "none" else out
    name = "cross_entropy"
    _check_reduction(name, reduction)
    if z.ndim < 2:
        raise ValueError(f"{name}: logits must be (N, C, d1, ...), got shape {tuple(z.shape)}")
    _check_float(name, "logits", z)
    _check_finite(name, "logits", z)
    target = _array(target)
    _class_indices(name, z, target, ignore_index)
    weight = _class_weight(name, weight, z)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if pixel_weight is not None:
        pixel_weight = _array(pixel_weight)
        if tuple(pixel_weight.shape) != tuple(target.shape):
            raise ValueError(
                f"{name}: pixel_weight has shape {tuple(pixel_weight.shape)} but the target has "
                f"shape {tuple(target.shape)}; the weight map needs one weight per target position"
            )
        _check_finite(name, "pixel_weight", pixel_weight)
        if bool((pixel_weight < 0).any()):
            raise ValueError(f"{name}: pixel_weight has negative values (min "
                             f"{float(pixel_weight.min()):g}); weights must be >= 0")
        pixel_weight = pixel_weight.astype(z.dtype, copy=False)
    return CrossEntropy.apply(logits, target=target, weight=weight, pixel_weight=pixel_weight,
                              ignore_index=ignore_index, reduction=reduction,
                              label_smoothing=float(label_smoothing))


# ----- binary cross-entropy with logits ---------------------------------------------------------
class BinaryCrossEntropyWithLogits(Function):
    """Sigmoid + binary cross-entropy, elementwise, in the form that never overflows.

    With s = sigmoid(z), weight w and positive-class weight k (pos_weight, 1 by default):

        l = -w [ k y log s + (1 - y) log(1 - s) ] = w [ (1 - y) z + (1 + (k - 1) y) softplus(-z) ]

    using log s = -softplus(-z) and log(1 - s) = -z - softplus(-z); softplus(-z) =
    log(1 + e^-z) = max(-z, 0) + log(1 + e^-|z|). For k = 1 this is the familiar
    max(z, 0) - z y + log(1 + e^-|z|). Since d log s/dz = 1 - s = sigmoid(-z):

        dl/dz = w [ (1 - y) sigmoid(z) - k y sigmoid(-z) ]     (= w (s - y) for k = 1)
        dl/dy = w [ -z + (k - 1) softplus(-z) ]

    (written with sigmoid(-z) rather than 1 - s, which rounds to 0 for large z, so a confident
    right answer still gets its tiny gradient instead of exactly zero).

    reduction "mean" is the plain mean over elements (the weights are not normalised), as torch.
    """

    @staticmethod
    def forward(ctx, z, y, weight=None, pos_weight=None, reduction="mean"):
        sp = _softplus_neg(z)
        k1 = 0.0 if pos_weight is None else pos_weight - 1  # (k - 1)
        w = 1.0 if weight is None else weight
        loss = w * ((1 - y) * z + (1 + k1 * y) * sp)
        ctx.save_for_backward(z, y, sp)
        ctx.w, ctx.k1, ctx.reduction, ctx.shape = w, k1, reduction, loss.shape
        return _reduce(loss, reduction, loss.size)

    @staticmethod
    def backward(ctx, grad):
        z, y, sp = ctx.saved_tensors
        g = _reduce_backward(grad, ctx.reduction, z.size, ctx.shape) * ctx.w
        k = ctx.k1 + 1
        dz = g * ((1 - y) * _sigmoid(z) - k * y * _sigmoid(-z)) if ctx.needs_input_grad[0] else None
        dy = g * (ctx.k1 * sp - z) if ctx.needs_input_grad[1] else None
        return dz, dy


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """BCE on logits, as torch: target (same shape as logits) in [0, 1]; ``weight`` and
    ``pos_weight`` broadcast against the logits (pos_weight (C, 1, 1) for (N, C, H, W))."""
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    z, y = _array(logits), _array(target)
    _check_float(name, "logits", z)
    _check_finite(name, "logits", z)
    if tuple(y.shape) != tuple(z.shape):
        raise ValueError(f"{name}: target has shape {tuple(y.shape)} but logits have shape "
                         f"{tuple(z.shape)}; they must match")
    if y.dtype.kind != "f":  # an integer or boolean mask is a fine 0/1 target
        target = y = y.astype(z.dtype)
    if bool(((y < 0) | (y > 1)).any()):
        raise ValueError(f"{name}: target values must lie in [0, 1], found values from "
                         f"{float(y.min()):g} to {float(y.max()):g} (a 0/255 mask needs / 255)")
    extras = {}
    for key, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is not None:
            value = _array(value).astype(z.dtype, copy=False)
            try:
                shape = np.broadcast_shapes(value.shape, z.shape)
            except ValueError:
                shape = None
            if shape != tuple(z.shape):
                raise ValueError(f"{name}: {key} of shape {tuple(value.shape)} does not broadcast "
                                 f"to the logits' shape {tuple(z.shape)}")
            extras[key] = value
    return BinaryCrossEntropyWithLogits.apply(logits, target, reduction=reduction, **extras)


# ----- mean squared error -----------------------------------------------------------------------
class MSE(Function):
    """l = (x - y)^2 elementwise;  dl/dx = 2 (x - y),  dl/dy = -2 (x - y)."""

    @staticmethod
    def forward(ctx, x, y, reduction="mean"):
        d = x - y
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        return _reduce(d * d, reduction, d.size)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        g = 2 * d * _reduce_backward(grad, ctx.reduction, d.size, d.shape)
        return g, -g


def mse_loss(input, target, reduction="mean"):  # noqa: A002  (PyTorch's name)
    """Mean squared error, as torch, except that shapes must match exactly (torch broadcasts
    with a warning, which is almost always a bug: (N, 1) against (N,) gives an (N, N) loss)."""
    name = "mse_loss"
    _check_reduction(name, reduction)
    x, y = _array(input), _array(target)
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"{name}: input has shape {tuple(x.shape)} but target has shape "
                         f"{tuple(y.shape)}; they must match")
    _check_float(name, "input", x)
    _check_finite(name, "input", x)
    return MSE.apply(input, target, reduction=reduction)
