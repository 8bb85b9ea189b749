"""Cross-entropy over the class dim 1: against class indices, or against class probabilities.

Logits are ``(N, C, d1, d2, ...)``: a batch, a class axis (dim 1, as in PyTorch), any number of
spatial axes (``(N, C)`` for plain classification, ``(N, C, H, W)`` for a U-Net's output); a
single unbatched sample ``(C,)`` is allowed too. The target is either

* class indices ``(N, d1, ...)`` (``CrossEntropy``): one right class per position, or
* class probabilities ``(N, C, d1, ...)``, the logits' own shape (``SoftCrossEntropy``): a
  distribution over the classes per position (a soft label, a teacher's prediction).

Two results are worth knowing before reading:

* the gradient is ``softmax(z) - target``: the log-softmax and the negative log-likelihood are
  fused, so no small probability is ever divided by;
* cross-entropy averages over pixels, so a rare class (a 4-pixel tumour in 100 pixels) barely
  moves it; soft Dice (``dice.py``) measures overlap per class and ignores the background.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor
from .loss_checks import (
    _array,
    _check_finite,
    _check_float,
    _check_reduction,
    _class_indices,
    _class_weight,
    _reduce,
    _reduce_backward,
    legacy_reduction,
)


def _log_softmax(z):
    xp = get_array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


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
        log_p = _log_softmax(z)
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


class SoftCrossEntropy(Function):
    """Cross-entropy against class probabilities q (the logits' shape), inputs (z, q).

    With class weights w and label smoothing e the target is first smoothed towards uniform,
    q' = (1 - e) q + e / C, and then, at each position i,

        l_i = -sum_c w_c q'_c log p_c                      p = softmax(z_i)

    "mean" divides the sum by the number of positions (N d1 ...), whatever the weights, as
    PyTorch does for probability targets. With d(-log p_k)/dz_c = p_c - [k == c]:

        dl_i/dz_i = (sum_c w_c q'_c) p - w q'          (= p - q' when w = 1 and q' sums to 1)
        dl_i/dq_c = -(1 - e) w_c log p_c               (the target is differentiable too)
    """

    @staticmethod
    def forward(ctx, z, q, weight=None, reduction="mean", label_smoothing=0.0):
        C, e = z.shape[1], label_smoothing
        log_p = _log_softmax(z)
        w = 1.0 if weight is None else weight.reshape((1, C) + (1,) * (z.ndim - 2))
        wq = w * ((1 - e) * q + e / C)                   # w_c q'_c
        loss = -(wq * log_p).sum(axis=1)
        ctx.save_for_backward(log_p, wq)
        ctx.w, ctx.e, ctx.reduction, ctx.count = w, e, reduction, loss.size
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty batch: NaN, as torch
            return _reduce(loss, reduction, loss.size)

    @staticmethod
    def backward(ctx, grad):
        log_p, wq = ctx.saved_tensors
        xp = get_array_module(log_p)
        shape = log_p.shape[:1] + log_p.shape[2:]
        with np.errstate(invalid="ignore", divide="ignore"):
            g = xp.expand_dims(_reduce_backward(grad, ctx.reduction, ctx.count, shape), 1)
        dz = g * (wq.sum(axis=1, keepdims=True) * xp.exp(log_p) - wq) \
            if ctx.needs_input_grad[0] else None
        dq = -g * (1 - ctx.e) * ctx.w * log_p if ctx.needs_input_grad[1] else None
        return dz, dq


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0, *, pixel_weight=None):
    """Cross-entropy of logits (N, C, d1, ...) against class indices (N, d1, ...) or class
    probabilities (N, C, d1, ...), as ``torch.nn.functional.cross_entropy`` (and in its
    argument order; ``size_average``/``reduce`` are PyTorch's deprecated spelling of
    ``reduction``, see ``loss_checks.legacy_reduction``).

    ``weight`` (C,) weighs classes; ``label_smoothing`` e mixes e / C of every class into the
    target; ``ignore_index`` (class indices only) marks positions that count for nothing.
    ``pixel_weight`` (N, d1, ...), keyword-only and tinyunet's own, is the original U-Net's
    weight map w(x) (pixels on the thin borders between touching cells weigh more) and
    multiplies each position's loss. With reduction "mean" the sum is divided by the sum of
    the *effective* weights m_i w_{y_i} of the non-ignored positions: a weighted average. So
    a map of ones (or no map) gives PyTorch's result, and scaling the map by a constant
    changes which pixels matter but not the size of the loss or of the step (dividing by the
    pixel count instead would turn a map with w0 = 10 into a ten-fold learning rate). The
    paper's energy sum_x w(x) log p is reduction="sum". Logits (C,) with a scalar target
    (or a (C,) distribution) are one sample.
    """
    name = "cross_entropy"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    z = _array(input)
    soft = tuple(_array(target).shape) == tuple(z.shape) and _array(target).dtype.kind == "f"
    if z.ndim == 1:  # one unbatched sample, as torch allows
        shape = (1, -1) if soft else (1,)
        out = cross_entropy(Tensor._lift(input).reshape(1, -1), _unbatched(target, shape),
                            weight, None, ignore_index, None, reduction, label_smoothing,
                            pixel_weight=pixel_weight)
        return out.reshape(()) if reduction == "none" else out
    if z.ndim < 2:
        raise ValueError(f"{name}: logits must be (N, C, d1, ...), got shape {tuple(z.shape)}")
    _check_float(name, "logits", z)
    _check_finite(name, "logits", z)
    weight = _class_weight(name, weight, z)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if soft:
        if pixel_weight is not None:
            raise NotImplementedError(f"{name}: pixel_weight is only supported with class-index "
                                      "targets, not probability targets")
        _check_finite(name, "target", _array(target))
        return SoftCrossEntropy.apply(input, target, weight=weight, reduction=reduction,
                                      label_smoothing=float(label_smoothing))
    target = _array(target)
    _class_indices(name, z, target, ignore_index)
    pixel_weight = _pixel_weight(name, pixel_weight, target, z.dtype)
    return CrossEntropy.apply(input, target=target, weight=weight, pixel_weight=pixel_weight,
                              ignore_index=ignore_index, reduction=reduction,
                              label_smoothing=float(label_smoothing))


def _unbatched(target, shape):
    return target.reshape(*shape) if isinstance(target, Tensor) else _array(target).reshape(shape)


def _pixel_weight(name, pixel_weight, target, dtype):
    """Check the U-Net weight map: one finite, non-negative weight per target position."""
    if pixel_weight is None:
        return None
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
    return pixel_weight.astype(dtype, copy=False)
