"""Soft Dice, and Dice + cross-entropy: the overlap losses for imbalanced segmentation.

Dice = 2 |P ∩ G| / (|P| + |G|) measures how well the predicted foreground P overlaps the true
foreground G, and ignores the background entirely: an all-background answer scores 0 however
small the object is, where pixel accuracy would score 1 - (object share). Its soft version
replaces the hard mask P by the probabilities p, so it has a gradient.
"""

from __future__ import annotations

from ..backend import get_array_module
from ..function import Function
from .cross_entropy import cross_entropy
from .loss import binary_cross_entropy_with_logits
from .loss_checks import (
    _array,
    _check_finite,
    _check_float,
    _check_reduction,
    _class_indices,
    _reduce,
    _reduce_backward,
    _sigmoid,
    _softmax,
)


# BEGIN SOLUTION task=4.2 hint="keep smooth_nr and smooth_dr: empty predicted empty is D = 1"
class SoftDice(Function):
    """Soft Dice loss on probabilities p = softmax(z) over dim 1, or sigmoid(z) elementwise.

    For each image n and class c (or each class, pooling the batch when ``batch``), with the
    sums over pixels s, target g (one-hot or binary) and q = p (or p^2 when ``squared_pred``):

        I = sum_s p g,   P = sum_s q,   G = sum_s g (or g^2),   den = P + G + smooth_dr
        D = (2 I + smooth_nr) / den,    loss_{nc} = 1 - D

    then "mean" / "sum" over the (n, c) entries, or "none" for the (N, C') array ((C',) with
    ``batch``). Classes start at ``first`` (1 drops the background class 0).

    Backward. By the quotient rule, with dP/dp_s = 1 (or 2 p_s):

        dD/dp_s = (2 g_s den - (2 I + smooth_nr) dP/dp_s) / den^2 = (2 g_s - D dP/dp_s) / den

    so dL/dp_s = -u (2 g_s - D dP/dp_s) / den, u = dL/d(loss_{nc}), and 0 for dropped classes.
    Then through the activation's Jacobian-vector product:
    softmax: dL/dz = p (dL/dp - sum_c p_c dL/dp_c);  sigmoid: dL/dz = dL/dp p (1 - p).
    """

    @staticmethod
    def forward(ctx, z, g=None, activation="softmax", first=0, smooth_nr=1e-5, smooth_dr=1e-5,
                squared_pred=False, reduction="mean", batch=False):
        p = _softmax(z) if activation == "softmax" else _sigmoid(z)
        pk, gk = p[:, first:], g[:, first:]
        axes = tuple(range(0 if batch else 2, z.ndim))
        axes = tuple(a for a in axes if a != 1)  # every axis but the class axis
        I = (pk * gk).sum(axis=axes, keepdims=True)
        P = (pk * pk if squared_pred else pk).sum(axis=axes, keepdims=True)
        G = (gk * gk if squared_pred else gk).sum(axis=axes, keepdims=True)
        den = P + G + smooth_dr
        D = (2 * I + smooth_nr) / den
        loss = (1 - D).reshape(D.shape[1:2] if batch else D.shape[:2])
        ctx.save_for_backward(p, gk, D, den)
        ctx.activation, ctx.first, ctx.squared = activation, first, squared_pred
        ctx.reduction, ctx.loss_shape = reduction, loss.shape
        return _reduce(loss, reduction, loss.size)

    @staticmethod
    def backward(ctx, grad):
        p, gk, D, den = ctx.saved_tensors
        xp = get_array_module(p)
        u = _reduce_backward(grad, ctx.reduction, D.size, ctx.loss_shape).reshape(D.shape)
        pk = p[:, ctx.first:]
        dP = 2 * pk if ctx.squared else 1
        dp = xp.zeros_like(p)
        dp[:, ctx.first:] = -u * (2 * gk - D * dP) / den
        if ctx.activation == "softmax":
            return (p * (dp - (dp * p).sum(axis=1, keepdims=True)),)
        return (dp * p * (1 - p),)
# END SOLUTION


def dice_loss(logits, target, activation="softmax", include_background=False, smooth_nr=1e-5,
              smooth_dr=1e-5, squared_pred=False, reduction="mean", batch=False):
    """Soft Dice loss (MONAI's semantics); see ``SoftDice`` for the formula.

    activation="softmax": target holds class indices (N, d1, ...), made one-hot; classes need
    C >= 2, and ``include_background=False`` leaves out class 0 (the background, whose huge
    easy overlap would otherwise dominate). activation="sigmoid": each channel is its own
    binary problem, target is a 0/1 mask of the logits' shape (or (N, d1, ...) for one-channel
    logits), and ``include_background`` is ignored (channel 0 is a foreground class there).
    """
    name = "dice_loss"
    _check_reduction(name, reduction)
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(f"{name}: activation must be 'softmax' or 'sigmoid', got {activation!r}")
    z, y = _array(logits), _array(target)
    if z.ndim < 2:
        raise ValueError(f"{name}: logits must be (N, C, d1, ...), got shape {tuple(z.shape)}")
    _check_float(name, "logits", z)
    _check_finite(name, "logits", z)
    xp = get_array_module(z)
    C = z.shape[1]
    if activation == "softmax":
        if C < 2:
            raise ValueError(f"{name}: softmax over C = 1 channel (logits {tuple(z.shape)}) is "
                             "always 1; use activation='sigmoid' for one-channel logits")
        _class_indices(name, z, y)
        classes = xp.arange(C).reshape((1, C) + (1,) * (z.ndim - 2))
        g = (classes == y[:, None]).astype(z.dtype)
        first = 0 if include_background else 1
    else:
        if C == 1 and tuple(y.shape) == z.shape[:1] + z.shape[2:]:
            y = y[:, None]
        if tuple(y.shape) != tuple(z.shape):
            raise ValueError(f"{name}: with activation='sigmoid' the target must have the "
                             f"logits' shape {tuple(z.shape)}, got {tuple(y.shape)}")
        if bool(((y < 0) | (y > 1)).any()):
            raise ValueError(f"{name}: a sigmoid target must be a mask in [0, 1], found values "
                             f"{float(y.min()):g} to {float(y.max()):g} (class indices need "
                             "activation='softmax')")
        g, first = y.astype(z.dtype), 0
    return SoftDice.apply(logits, g=g, activation=activation, first=first, smooth_nr=smooth_nr,
                          smooth_dr=smooth_dr, squared_pred=squared_pred, reduction=reduction,
                          batch=batch)


def dice_ce_loss(logits, target, lambda_dice=1.0, lambda_ce=1.0, **dice_kwargs):
    """lambda_dice * Dice + lambda_ce * CE: overlap for the rare class, and cross-entropy's
    steady per-pixel gradient everywhere. The CE part is ``cross_entropy`` for softmax and
    ``binary_cross_entropy_with_logits`` for sigmoid, with the same reduction ("mean"/"sum")."""
    reduction = dice_kwargs.get("reduction", "mean")
    _check_reduction("dice_ce_loss", reduction, allowed=("mean", "sum"))
    dice = dice_loss(logits, target, **dice_kwargs)
    if dice_kwargs.get("activation", "softmax") == "sigmoid":
        z = _array(logits)
        mask = _array(target).reshape(z.shape)  # (N, d1, ...) becomes (N, 1, d1, ...)
        ce = binary_cross_entropy_with_logits(logits, mask, reduction=reduction)
    else:
        ce = cross_entropy(logits, target, reduction=reduction)
    return lambda_dice * dice + lambda_ce * ce
