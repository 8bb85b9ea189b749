"""Scoring a segmentation model: Dice, IoU and pixel accuracy of its hard masks, the objects
it finds (count and the Data Science Bowl's average precision, :mod:`tinyunet.instance_metrics`)
and the validation pass that computes them over a whole set."""

from __future__ import annotations

import numpy as np

from .. import instances as inst
from .. import metrics
from ..grad_mode import no_grad
from ..instance_metrics import instance_scores
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


def evaluate(model, batches, num_classes: int = 2, loss_fn=None,
             instances: str | None = "split") -> dict:
    """Validation: the mean loss (if ``loss_fn``) and :func:`score` over every image, and the
    instance scores (``ap``, ``ap50``, ``objects``, ``true_objects``) when the batches carry
    instance labels.

    Images of any size are fine: a 'same' U-Net sees them mirror-padded to a multiple of
    ``2**depth`` (:func:`tinyunet.predict.forward_padded`).

    ``batches`` yields ``(images, masks[, instance labels[, weight maps]])``; the weight maps
    go to ``loss_fn`` as its third argument. ``instances``: how predicted masks become
    objects (:func:`tinyunet.instances.from_prediction`); None: no instance scores. A
    :class:`DataLoader` is rewound to the start of its epoch first, so every call sees the
    whole set.
    """
    if hasattr(batches, "set_epoch"):
        batches.set_epoch(0)
    was_training = model.training
    model.eval()  # dropout off, batch norm on its running statistics
    preds, targets, labels, loss_sum, n = [], [], [], 0.0, 0
    try:
        with no_grad():
            for images, masks, *extra in batches:
                logits = Tensor(forward_padded(model, images))  # any image size
                masks = crop_like(masks, logits)
                if loss_fn is not None:
                    weights = [crop_like(w, logits) for w in extra[1:2]]   # if any
                    loss_sum += float(loss_fn(logits, masks, *weights).data) * len(images)
                preds += list(logits.numpy().argmax(axis=1))
                targets += list(masks)
                labels += list(crop_like(extra[0], logits)) if extra else []
                n += len(images)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: the validation set is empty")
    result = _score_all(preds, targets, num_classes)
    result["loss"] = loss_sum / n if loss_fn is not None else float("nan")
    if labels and instances:
        found = [inst.from_prediction(p, instances) for p in preds]
        result.update(instance_scores(labels, found))
    return result


def _score_all(preds: list, targets: list, num_classes: int) -> dict:
    """:func:`score` of all images at once, or, when their sizes differ, the mean of each
    image's scores (the same Dice and IoU: both are means over images)."""
    if len({m.shape for m in preds}) == 1:
        return score(np.stack(preds), np.stack(targets), num_classes)
    each = [score(p, t, num_classes) for p, t in zip(preds, targets)]
    return {key: float(np.mean([s[key] for s in each])) for key in each[0]}
