"""Segmentation metrics on hard masks: Dice, IoU, pixel accuracy, confusion matrix.

Why the metric is where U-Net projects most often report wrong numbers
----------------------------------------------------------------------
A loss is checked by its gradients and by training; a metric is checked by nothing, so every
silent choice inside it becomes the published number:

* **Pixel accuracy flatters imbalance.** A 10x10 image with a 4-pixel tumor and a model that
  predicts all background: accuracy 96/100 = 0.96, Dice 0. Report overlap, not accuracy.
* **Averaging order.** The mean of per-image scores (``"mean"``) and the score of the batch's
  summed counts (``"pooled"``, micro) differ whenever objects differ in size: pooling lets large
  objects dominate, so a small tumor missed entirely barely moves it. Say which one you report.
* **Empty masks.** When a class is absent from both prediction and target, Dice is 0/0.
  ``empty=1.0`` calls it perfect agreement (the model correctly found nothing), which raises
  scores on data sets full of empty images; ``empty=float("nan")`` drops it from the average
  (nan-mean), so only images where the class occurs count. Both are defensible; mixing is not.
* **Background.** The huge, easy background class inflates a mean over classes;
  ``ignore_background=True`` leaves class 0 out.
* **Soft vs hard.** These score thresholded masks (``probs > 0.5`` or ``logits.argmax(1)``);
  the soft Dice inside a loss is a different number.

For one class in one image, with A the predicted pixels and B the true pixels::

    Dice = 2|A ∩ B| / (|A| + |B|)
    IoU  = |A ∩ B| / |A ∪ B| = |A ∩ B| / (|A| + |B| - |A ∩ B|)

Both are 1 for a perfect match and 0 for no overlap, and they rank alike: IoU = Dice / (2 - Dice).

Inputs are masks of shape (H, W) or (N, H, W), as ndarrays or Tensors (anything with a ``.data``
array). With ``num_classes=None`` they are binary (0/1 or bool) and only the foreground
(class 1) is scored. With ``num_classes=C`` they hold class indices 0..C-1 and each class is
scored on its own; class 0 is the background.

Reductions of ``dice`` and ``iou``:

* ``"mean"``   per image and class, then the mean over images, then over classes -> float
* ``"pooled"`` counts summed over the whole batch first, then per class, then over classes -> float
* ``"none"``   per image: shape (N,) binary, (N, K) multi-class with K scored classes
  (column j is class j, or class j + 1 when the background is ignored); the N axis is dropped
  for a single (H, W) image.
"""

from __future__ import annotations

import numpy as np

REDUCTIONS = ("mean", "pooled", "none")


def dice(pred, target, num_classes=None, ignore_background=False, reduction="mean", empty=1.0):
    """Dice = 2|A ∩ B| / (|A| + |B|) of hard masks; see the module docstring for the options."""
    return _overlap_score("dice", pred, target, num_classes, ignore_background, reduction, empty)


def iou(pred, target, num_classes=None, ignore_background=False, reduction="mean", empty=1.0):
    """IoU (Jaccard) = |A ∩ B| / |A ∪ B| of hard masks; same options as :func:`dice`."""
    return _overlap_score("iou", pred, target, num_classes, ignore_background, reduction, empty)


def pixel_accuracy(pred, target):
    """Fraction of pixels whose predicted class equals the true class, over the whole batch.

    Misleading under class imbalance: all-background on a 4-pixel tumor in 100 pixels is 0.96.
    """
    pred, target, _ = _mask_pair(pred, target, "pixel_accuracy")
    return float(np.mean(pred == target))


def confusion_matrix(pred, target, num_classes):
    """(C, C) pixel counts over the batch: ``M[i, j]`` = pixels of true class i predicted as j.

    Rows are the truth and columns the prediction (the scikit-learn convention), so the
    diagonal holds |A ∩ B| per class, row sums |B| and column sums |A|.
    """
    pred, target, _ = _mask_pair(pred, target, "confusion_matrix")
    C = _check_num_classes(num_classes, "confusion_matrix")
    _check_labels(pred, C, "confusion_matrix: pred")
    _check_labels(target, C, "confusion_matrix: target")
    pairs = target.ravel() * C + pred.ravel()  # one bin per (true, predicted) pair
    return np.bincount(pairs, minlength=C * C).reshape(C, C)


def _overlap_score(kind, pred, target, num_classes, ignore_background, reduction, empty):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{kind}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    pred, target, single_image = _mask_pair(pred, target, kind)
    binary = num_classes is None
    if binary:
        C, scored = 2, [1]  # a binary mask is the two-class case scored on its foreground only
        _check_binary(pred, f"{kind}: pred")
        _check_binary(target, f"{kind}: target")
    else:
        C = _check_num_classes(num_classes, kind)
        first = 1 if ignore_background else 0
        if first >= C:
            raise ValueError(f"{kind}: ignore_background=True leaves no class of num_classes={C}")
        scored = list(range(first, C))
        _check_labels(pred, C, f"{kind}: pred")
        _check_labels(target, C, f"{kind}: target")

    intersection, size_pred, size_true = (c[:, scored] for c in _counts(pred, target, C))

    if reduction == "pooled":  # micro: sum the counts over the batch, then score each class
        per_class = _score(kind, intersection.sum(0), size_pred.sum(0), size_true.sum(0), empty)
        return _nanmean(per_class)

    per_image = _score(kind, intersection, size_pred, size_true, empty)  # (N, K)
    if reduction == "mean":  # mean over images for each class, then over classes
        return _nanmean(_nanmean(per_image, axis=0))
    if binary:
        per_image = per_image[:, 0]
    return per_image[0] if single_image else per_image


def _counts(pred, target, C):
    """|A ∩ B|, |A| and |B| for every image and class, each an (N, C) integer array."""
    N = pred.shape[0]
    offset = np.arange(N).reshape(N, 1, 1) * C  # gives each (image, class) pair its own bin
    pred_bins, true_bins = pred + offset, target + offset

    def count(bins):
        return np.bincount(bins.ravel(), minlength=N * C).reshape(N, C)

    return count(pred_bins[pred == target]), count(pred_bins), count(true_bins)


def _score(kind, intersection, size_pred, size_true, empty):
    """Dice or IoU from counts; ``empty`` where the class is in neither mask (0/0)."""
    if kind == "dice":
        numerator, denominator = 2 * intersection, size_pred + size_true
    else:
        numerator, denominator = intersection, size_pred + size_true - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        score = numerator / denominator
    return np.where(denominator == 0, empty, score)


def _nanmean(x, axis=None):
    """Mean that skips NaN (the ``empty=nan`` cases); NaN, without a warning, if nothing is left."""
    x = np.asarray(x, dtype=np.float64)
    kept = ~np.isnan(x)
    total = np.where(kept, x, 0.0).sum(axis=axis)
    n = kept.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    return float(mean) if np.ndim(mean) == 0 else mean


def _as_mask(x, name):
    """An integer ndarray of class indices from an ndarray, a Tensor (``.data``) or a list."""
    if not isinstance(x, np.ndarray):
        x = getattr(x, "data", x)
    if hasattr(x, "__cuda_array_interface__"):
        x = x.get()  # CuPy: metrics are cheap, compute them on the host
    x = np.asarray(x)
    if x.dtype == np.bool_:
        return x.astype(np.int64)
    if x.dtype.kind == "f":
        fractional = x != np.round(x)  # NaN counts as fractional too
        if fractional.any():
            raise ValueError(
                f"{name}: expected a hard mask of class indices but got non-integer values such as "
                f"{x[fractional].flat[0]}; threshold first (probs > 0.5, or logits.argmax(1))"
            )
        return x.astype(np.int64)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer or bool mask, got dtype {x.dtype}")
    return x.astype(np.int64, copy=False)


def _mask_pair(pred, target, fn):
    """Validate shapes; return (N, H, W) int masks and whether a single (H, W) image was given."""
    pred, target = _as_mask(pred, f"{fn}: pred"), _as_mask(target, f"{fn}: target")
    if pred.shape != target.shape:
        raise ValueError(
            f"{fn}: pred has shape {pred.shape} but target has shape {target.shape}; "
            f"they must match"
        )
    if pred.ndim not in (2, 3):
        hint = "; squeeze the channel axis first" if pred.ndim == 4 and pred.shape[1] == 1 else ""
        raise ValueError(f"{fn}: masks must be (H, W) or (N, H, W), got shape {pred.shape}{hint}")
    single_image = pred.ndim == 2
    if single_image:
        pred, target = pred[None], target[None]
    return pred, target, single_image


def _check_num_classes(num_classes, fn):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{fn}: num_classes must be an int, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"{fn}: num_classes must be at least 1, got {num_classes}")
    return int(num_classes)


def _check_labels(mask, C, name):
    if mask.size and (mask.min() < 0 or mask.max() >= C):
        raise ValueError(
            f"{name} holds values in [{mask.min()}, {mask.max()}] but num_classes={C} "
            f"allows only 0..{C - 1}"
        )


def _check_binary(mask, name):
    if mask.size and (mask.min() < 0 or mask.max() > 1):
        raise ValueError(
            f"{name} holds values in [{mask.min()}, {mask.max()}] but a binary mask must be 0/1; "
            f"pass num_classes=C for a mask of class indices"
        )
