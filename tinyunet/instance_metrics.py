"""Scoring objects, not pixels: the object count and the 2018 Data Science Bowl's average
precision.

Dice cannot see a merge. Two touching nuclei predicted as one blob cover nearly the right
pixels, so the Dice is nearly 1, yet the count is off by one and neither nucleus was found.
Instance metrics match objects first:

* the IoU of predicted object A and true object B is ``|A ∩ B| / |A ∪ B|``;
* at a threshold t, a predicted object is a true positive (TP) if it overlaps a true object
  with IoU > t. For t >= 0.5 each object can have at most one such partner (two disjoint
  objects cannot each cover more than half of a third), so the matching is one-to-one
  without any assignment problem. Unmatched predictions are false positives (FP), unmatched
  true objects false negatives (FN);
* the score at t is ``TP / (TP + FP + FN)``, and an image's score is its mean over
  t = 0.5, 0.55, ..., 0.95; the data set's is the mean over images. That is the Data Science
  Bowl 2018's metric (called "average precision" there, though it divides by TP + FP + FN).

A merge of two nuclei is one FP and two FN at every threshold above the merged blob's IoU
with either nucleus; an image with no objects, true or predicted, scores 1.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = np.round(np.arange(0.5, 1.0, 0.05), 2)


def _dense(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renumbered 0..K (0 stays background) and K."""
    values, dense = np.unique(labels, return_inverse=True)
    dense = dense.reshape(labels.shape) + int(values[0] != 0)
    return dense, int(dense.max(initial=0))


def iou_matrix(true, pred) -> np.ndarray:
    """``(K_true, K_pred)`` IoU of every pair of true and predicted objects."""
    true, pred = np.asarray(true), np.asarray(pred)
    if true.shape != pred.shape:
        raise ValueError(f"iou_matrix: true labels {true.shape} and predicted labels "
                         f"{pred.shape} differ in shape")
    t, n_true = _dense(true)
    p, n_pred = _dense(pred)
    # one bincount over (true, pred) pairs gives every intersection at once
    overlap = np.bincount((t * (n_pred + 1) + p).ravel(), minlength=(n_true + 1) * (n_pred + 1))
    overlap = overlap.reshape(n_true + 1, n_pred + 1)
    area_true, area_pred = overlap.sum(axis=1), overlap.sum(axis=0)
    inter = overlap[1:, 1:]
    union = area_true[1:, None] + area_pred[None, 1:] - inter
    return inter / np.maximum(union, 1)


def precision_at(iou: np.ndarray, t: float) -> tuple[int, int, int]:
    """(TP, FP, FN) at IoU threshold ``t`` (> 0.5: the matches are one-to-one)."""
    if t < 0.5:
        raise ValueError(f"precision_at: t = {t} < 0.5 would allow one object two matches")
    n_true, n_pred = iou.shape
    tp = int((iou > t).sum())
    return tp, n_pred - tp, n_true - tp


def average_precision(true, pred, thresholds=THRESHOLDS) -> float:
    """One image's mean over ``thresholds`` of TP / (TP + FP + FN); 1 if both are empty."""
    iou = iou_matrix(true, pred)
    scores = []
    for t in thresholds:
        tp, fp, fn = precision_at(iou, float(t))
        scores.append(1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn))
    return float(np.mean(scores))


def count(labels) -> int:
    """The number of objects in an instance label image."""
    values = np.unique(np.asarray(labels))
    return int((values != 0).sum())


def instance_scores(trues, preds) -> dict:
    """Over a set of images: ``ap`` (the DSB score, mean over images), ``ap50`` (the same at
    IoU 0.5 only), ``objects`` and ``true_objects`` (counted over all images)."""
    trues, preds = list(trues), list(preds)
    if len(trues) != len(preds) or not trues:
        raise ValueError(f"instance_scores: {len(trues)} true and {len(preds)} predicted label "
                         f"images; need the same number, at least one")
    return {"ap": float(np.mean([average_precision(t, p) for t, p in zip(trues, preds)])),
            "ap50": float(np.mean([average_precision(t, p, [0.5]) for t, p in zip(trues, preds)])),
            "objects": sum(count(p) for p in preds),
            "true_objects": sum(count(t) for t in trues)}
