"""Per-element losses: binary cross-entropy and MSE (cross-entropy is in ``cross_entropy.py``,
soft Dice in ``dice.py``; the shared reductions and checks in ``loss_checks.py``).

Both compare a prediction with a target of the same shape, element by element.

Each loss is one ``Function`` whose backward is written from the formula in its docstring; a
thin wrapper below it checks the inputs and says exactly what is wrong with them.
"""

from __future__ import annotations

import numpy as np

from ..function import Function
from .cross_entropy import cross_entropy
from .loss_checks import (
    _array,
    _check_finite,
    _check_float,
    _check_reduction,
    _reduce,
    _reduce_backward,
    _sigmoid,
    _softplus_neg,
    legacy_reduction,
)


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


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """BCE on logits, as torch (and in its argument order): target (same shape as logits) in
    [0, 1]; ``weight`` and ``pos_weight`` broadcast against the logits (pos_weight (C, 1, 1)
    for (N, C, H, W)); ``size_average``/``reduce`` are the deprecated names of a reduction."""
    name = "binary_cross_entropy_with_logits"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    z, y = _array(input), _array(target)
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
    return BinaryCrossEntropyWithLogits.apply(input, target, reduction=reduction, **extras)


# ----- mean squared error -----------------------------------------------------------------------
class MSE(Function):
    """l = w (x - y)^2 elementwise (w = 1 unless a weight is given);
    dl/dx = 2 w (x - y),  dl/dy = -2 w (x - y). "mean" divides by sum(w) (the element count
    when unweighted), as PyTorch does."""

    @staticmethod
    def forward(ctx, x, y, weight=None, reduction="mean"):
        d = x - y
        ctx.save_for_backward(d)
        ctx.w = 1 if weight is None else weight
        ctx.reduction, ctx.count = reduction, d.size if weight is None else weight.sum()
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty input: NaN, as torch
            return _reduce(ctx.w * d * d, reduction, ctx.count)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore"):
            g = 2 * ctx.w * d * _reduce_backward(grad, ctx.reduction, ctx.count, d.shape)
        return g, -g


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean",  # noqa: A002
             weight=None):
    """Mean squared error, as torch (and in its argument order), except that shapes must match
    exactly (torch broadcasts with a warning, which is almost always a bug: (N, 1) against
    (N,) gives an (N, N) loss). ``weight`` (the input's shape) weighs each element; "mean" is
    then the weighted average sum(w (x - y)^2) / sum(w)."""
    name = "mse_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    x, y = _array(input), _array(target)
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"{name}: input has shape {tuple(x.shape)} but target has shape "
                         f"{tuple(y.shape)}; they must match")
    _check_float(name, "input", x)
    _check_finite(name, "input", x)
    if weight is not None:
        weight = _array(weight).astype(x.dtype, copy=False)
        if tuple(weight.shape) != tuple(x.shape):
            raise ValueError(f"{name}: weight has shape {tuple(weight.shape)} but the input has "
                             f"shape {tuple(x.shape)}; they must match")
    return MSE.apply(input, target, weight=weight, reduction=reduction)


__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "mse_loss"]
