"""Scoring a segmentation model: Dice, IoU and pixel accuracy of its hard masks, and the
validation pass that computes them over a whole set."""

from __future__ import annotations

import numpy as np

from .. import metrics
from ..grad_mode import no_grad
from ..predict import forward_padded
from ..tensor import Tensor


def score(pred, target, num_classes: int = 2) -> dict:
    """Dice, IoU (of the foreground classes, mean over images) and pixel accuracy of hard masks.

    Two classes: the scores of class 1 (the background's Dice is high and says little). More:
    the mean over classes 1..C-1.
    """
    kwargs = {} if num_classes == 2 else dict(num_classes=num_classes, ignore_background=True)
    return {"dice": metrics.dice(pred, target, **kwargs),
            "iou": metrics.iou(pred, target, **kwargs),
            "pixel_accuracy": metrics.pixel_accuracy(pred, target)}


def crop_like(masks: np.ndarray, logits) -> np.ndarray:
    """A 'valid'-padding U-Net predicts only the centre of its input: crop the masks to match."""
    H, W = logits.shape[-2:]
    h0, w0 = (masks.shape[-2] - H) // 2, (masks.shape[-1] - W) // 2
    return masks[..., h0:h0 + H, w0:w0 + W]


def evaluate(model, batches, num_classes: int = 2, loss_fn=None) -> dict:
    """Validation: the mean loss (if ``loss_fn``) and :func:`score` over every image.

    Images of any size are fine: a 'same' U-Net sees them mirror-padded to a multiple of
    ``2**depth`` (:func:`tinyunet.predict.forward_padded`).

    ``batches`` yields ``(images, masks, ...)``; a :class:`DataLoader` is rewound to the start
    of its epoch first, so every call sees the whole set.
    """
    if hasattr(batches, "set_epoch"):
        batches.set_epoch(0)
    was_training = model.training
    model.eval()  # dropout off, batch norm on its running statistics
    preds, targets, loss_sum, n = [], [], 0.0, 0
    try:
        with no_grad():
            for images, masks, *_ in batches:
                logits = Tensor(forward_padded(model, images))  # any image size
                masks = crop_like(masks, logits)
                if loss_fn is not None:
                    loss_sum += float(loss_fn(logits, masks).data) * len(images)
                preds.append(logits.data.argmax(axis=1))
                targets.append(masks)
                n += len(images)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: the validation set is empty")
    result = score(np.concatenate(preds), np.concatenate(targets), num_classes)
    result["loss"] = loss_sum / n if loss_fn is not None else float("nan")
    return result
