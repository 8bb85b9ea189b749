"""What every loss shares: the reductions and the input checks that name what is wrong.

A loss computes one value l_i per position (a sample, or a pixel of an image) and then reduces
them: ``"none"`` keeps them all, ``"sum"`` adds them, ``"mean"`` divides the sum by a count
(which each loss chooses: the elements, or the weights of the counted targets). PyTorch's
older ``size_average`` and ``reduce`` flags still name a reduction (``legacy_reduction``).
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated flags as a reduction: ``reduce=False`` is "none", else
    ``size_average=False`` is "sum", else "mean" (either flag set overrides ``reduction``)."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


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
            "(convert a mask with .astype(int) or .long()), or class probabilities of the "
            "logits' own shape"
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
