"""Loss modules, as ``torch.nn``: each holds its settings and calls a loss in ``tinyunet.ops.loss``
or ``ops.dice`` (where the formulas, and the forward and backward of each, are written out).

    criterion = nn.DiceCELoss()
    loss = criterion(model(images), masks)    # logits (N, C, H, W), class indices (N, H, W)

Class weights are registered as buffers, as in PyTorch, so ``state_dict`` has the same keys and
``.to(...)`` moves them with the model.
"""

from __future__ import annotations

from ..ops.cross_entropy import cross_entropy
from ..ops.dice import dice_ce_loss, dice_loss
from ..ops.loss import binary_cross_entropy_with_logits, mse_loss
from ..ops.loss_checks import _check_reduction, legacy_reduction
from .module import Module


class CrossEntropyLoss(Module):
    """``CrossEntropyLoss(weight=None, size_average=None, ignore_index=-100, reduce=None,
    reduction="mean", label_smoothing=0.0)``: softmax cross-entropy over dim 1, against class
    indices or probabilities; ``forward(logits, target, pixel_weight=None)`` takes the
    original U-Net's per-pixel weight map as an optional third argument."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        reduction = legacy_reduction(size_average, reduce, reduction)
        _check_reduction("CrossEntropyLoss", reduction)
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing

    def forward(self, input, target, pixel_weight=None):  # noqa: A002  (PyTorch's name)
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, pixel_weight=pixel_weight,
                             label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}")


class BCEWithLogitsLoss(Module):
    """``BCEWithLogitsLoss(weight=None, size_average=None, reduce=None, reduction="mean",
    pos_weight=None)``: sigmoid + binary cross-entropy in one stable step; target of the
    logits' shape."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__()
        reduction = legacy_reduction(size_average, reduce, reduction)
        _check_reduction("BCEWithLogitsLoss", reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input, target):  # noqa: A002
        return binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                reduction=self.reduction,
                                                pos_weight=self.pos_weight)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """``MSELoss(size_average=None, reduce=None, reduction="mean")``: mean squared error (the
    diffusion model's loss on predicted noise)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        reduction = legacy_reduction(size_average, reduce, reduction)
        _check_reduction("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, input, target):  # noqa: A002
        return mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class DiceLoss(Module):
    """Soft Dice loss, 1 - Dice per image and class, averaged: see ``ops.dice.dice_loss``."""

    def __init__(self, activation: str = "softmax", include_background: bool = False,
                 smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, squared_pred: bool = False,
                 reduction: str = "mean", batch: bool = False):
        super().__init__()
        _check_reduction("DiceLoss", reduction)
        self.activation, self.include_background = activation, include_background
        self.smooth_nr, self.smooth_dr = smooth_nr, smooth_dr
        self.squared_pred, self.reduction, self.batch = squared_pred, reduction, batch

    def _dice_kwargs(self) -> dict:
        return dict(activation=self.activation, include_background=self.include_background,
                    smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr,
                    squared_pred=self.squared_pred, reduction=self.reduction, batch=self.batch)

    def forward(self, input, target):  # noqa: A002
        return dice_loss(input, target, **self._dice_kwargs())

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._dice_kwargs().items())


class DiceCELoss(DiceLoss):
    """lambda_dice * Dice + lambda_ce * cross-entropy (BCE for sigmoid); reduction mean or sum."""

    def __init__(self, lambda_dice: float = 1.0, lambda_ce: float = 1.0, **dice_kwargs):
        reduction = dice_kwargs.get("reduction", "mean")
        _check_reduction("DiceCELoss", reduction, allowed=("mean", "sum"))
        super().__init__(**dice_kwargs)
        self.lambda_dice, self.lambda_ce = lambda_dice, lambda_ce

    def forward(self, input, target):  # noqa: A002
        return dice_ce_loss(input, target, lambda_dice=self.lambda_dice,
                            lambda_ce=self.lambda_ce, **self._dice_kwargs())

    def extra_repr(self) -> str:
        weights = f"lambda_dice={self.lambda_dice}, lambda_ce={self.lambda_ce}"
        return f"{weights}, {super().extra_repr()}"


__all__ = ["CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "DiceLoss", "DiceCELoss"]
