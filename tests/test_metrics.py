"""Segmentation metrics: the lesson's imbalance trap, reductions, empty masks, multi-class."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyunet as tu
from tinyunet import metrics


def naive_dice_iou(pred, target, c):
    """Per-image Dice and IoU of class c, straight from the set formulas (NaN when 0/0)."""
    A, B = pred == c, target == c
    inter, union = np.sum(A & B), np.sum(A | B)
    total = A.sum() + B.sum()
    return (2 * inter / total if total else math.nan), (inter / union if union else math.nan)


def lesson_case():
    """The lesson's example: 10x10 image, a 4-pixel tumor, a model that predicts background."""
    target = np.zeros((10, 10), dtype=np.int64)
    target[4:6, 4:6] = 1
    return np.zeros_like(target), target


# --- the lesson: accuracy flatters, Dice does not ---------------------------------------------


def test_lesson_all_background_prediction():
    pred, target = lesson_case()
    assert metrics.pixel_accuracy(pred, target) == pytest.approx(0.96)
    assert metrics.dice(pred, target) == 0.0
    assert metrics.iou(pred, target) == 0.0
    # multi-class view: the background class scores well, the tumor class scores 0
    per_class = metrics.dice(pred, target, num_classes=2, reduction="none")
    assert per_class[1] == 0.0
    assert per_class[0] == pytest.approx(2 * 96 / (100 + 96))
    assert metrics.dice(pred, target, num_classes=2, ignore_background=True) == 0.0


def test_perfect_prediction_scores_one():
    _, target = lesson_case()
    assert metrics.dice(target, target) == 1.0
    assert metrics.iou(target, target) == 1.0
    assert metrics.pixel_accuracy(target, target) == 1.0
    labels = np.random.default_rng(0).integers(0, 4, size=(3, 5, 6))
    assert metrics.dice(labels, labels, num_classes=4) == 1.0
    assert metrics.iou(labels, labels, num_classes=4, reduction="pooled") == 1.0


def test_accepts_tensors_bool_and_integral_floats():
    pred, target = lesson_case()
    pred[4, 4] = 1  # one of the four tumor pixels found: Dice = 2*1 / (1 + 4)
    expected = 2 / 5
    assert metrics.dice(SimpleNamespace(data=pred), SimpleNamespace(data=target)) == expected
    assert metrics.dice(tu.Tensor(pred), tu.Tensor(target)) == expected  # float32 data
    assert metrics.dice(pred.astype(bool), target.astype(bool)) == expected
    assert metrics.dice(pred.astype(np.float32), target.astype(np.float64)) == expected


# --- empty vs empty ---------------------------------------------------------------------------


def test_empty_vs_empty_is_a_choice():
    nothing = np.zeros((4, 4), dtype=np.int64)
    assert metrics.dice(nothing, nothing) == 1.0
    assert metrics.iou(nothing, nothing) == 1.0
    assert math.isnan(metrics.dice(nothing, nothing, empty=float("nan")))
    assert math.isnan(metrics.iou(nothing, nothing, empty=float("nan"), reduction="pooled"))


def test_empty_nan_is_skipped_by_the_mean():
    target = np.zeros((2, 4, 4), dtype=np.int64)
    target[0, :2, :2] = 1  # image 0 has 4 foreground pixels, image 1 has none
    pred = np.zeros_like(target)
    pred[0, 0, :2] = 1  # 2 of them found, no false positives: Dice = 2*2 / (2 + 4)
    d0 = 4 / 6
    per_image = metrics.dice(pred, target, reduction="none", empty=float("nan"))
    assert per_image[0] == pytest.approx(d0) and math.isnan(per_image[1])
    assert metrics.dice(pred, target, empty=float("nan")) == pytest.approx(d0)  # image 1 skipped
    assert metrics.dice(pred, target, empty=1.0) == pytest.approx((d0 + 1.0) / 2)  # counted as 1


def test_class_absent_everywhere_in_multiclass():
    target = np.array([[0, 1], [1, 0]])
    pred = np.array([[0, 1], [0, 0]])
    # class 2 is in neither mask; class 1: |A|=1, |B|=2, |A∩B|=1 -> 2/3
    scores = metrics.dice(pred, target, num_classes=3, ignore_background=True, reduction="none")
    assert scores == pytest.approx([2 / 3, 1.0])
    nan_scores = metrics.dice(
        pred, target, num_classes=3, ignore_background=True, reduction="none", empty=float("nan")
    )
    assert nan_scores[0] == pytest.approx(2 / 3) and math.isnan(nan_scores[1])
    assert metrics.dice(
        pred, target, num_classes=3, ignore_background=True, empty=float("nan")
    ) == pytest.approx(2 / 3)


# --- mean vs pooled ---------------------------------------------------------------------------


def test_mean_and_pooled_differ_on_a_crafted_batch():
    target = np.zeros((2, 4, 4), dtype=np.int64)
    pred = np.zeros_like(target)
    target[0, :2, :] = 1  # image 0: a big object, 8 pixels, found exactly
    pred[0, :2, :] = 1
    target[1, 3, :2] = 1  # image 1: a small object, 2 pixels, missed entirely
    # per image: Dice 2*8/(8+8) = 1 and 2*0/(0+2) = 0; IoU 8/8 = 1 and 0/2 = 0
    # pooled counts: |A∩B| = 8, |A| = 8, |B| = 10
    assert metrics.dice(pred, target, reduction="none") == pytest.approx([1.0, 0.0])
    assert metrics.dice(pred, target, reduction="mean") == pytest.approx(0.5)
    assert metrics.dice(pred, target, reduction="pooled") == pytest.approx(2 * 8 / (8 + 10))
    assert metrics.iou(pred, target, reduction="mean") == pytest.approx(0.5)
    assert metrics.iou(pred, target, reduction="pooled") == pytest.approx(8 / 10)


# --- multi-class ------------------------------------------------------------------------------

TARGET_3 = np.array([[0, 0, 1], [1, 2, 2]])
PRED_3 = np.array([[0, 1, 1], [1, 2, 0]])
# class 0: |A|=2 |B|=2 |A∩B|=1 -> Dice 2/4,  IoU 1/3
# class 1: |A|=3 |B|=2 |A∩B|=2 -> Dice 4/5,  IoU 2/3
# class 2: |A|=1 |B|=2 |A∩B|=1 -> Dice 2/3,  IoU 1/2
DICE_3 = [2 / 4, 4 / 5, 2 / 3]
IOU_3 = [1 / 3, 2 / 3, 1 / 2]


def test_multiclass_per_class_with_and_without_background():
    kw = dict(num_classes=3)
    assert metrics.dice(PRED_3, TARGET_3, reduction="none", **kw) == pytest.approx(DICE_3)
    assert metrics.iou(PRED_3, TARGET_3, reduction="none", **kw) == pytest.approx(IOU_3)
    assert metrics.dice(PRED_3, TARGET_3, **kw) == pytest.approx(np.mean(DICE_3))
    fg = metrics.dice(PRED_3, TARGET_3, ignore_background=True, reduction="none", **kw)
    assert fg == pytest.approx(DICE_3[1:])
    assert metrics.dice(PRED_3, TARGET_3, ignore_background=True, **kw) == pytest.approx(
        np.mean(DICE_3[1:])
    )
    batch = metrics.dice(np.stack([PRED_3] * 2), np.stack([TARGET_3] * 2), reduction="none", **kw)
    assert batch.shape == (2, 3)


def test_confusion_matrix_by_hand():
    expected = [[1, 1, 0], [0, 2, 0], [1, 0, 1]]  # rows: true class, columns: predicted class
    np.testing.assert_array_equal(metrics.confusion_matrix(PRED_3, TARGET_3, 3), expected)


def test_binary_equals_two_class_foreground():
    rng = np.random.default_rng(1)
    pred, target = rng.integers(0, 2, size=(2, 3, 5, 5))
    for reduction in ("mean", "pooled", "none"):
        binary = metrics.dice(pred, target, reduction=reduction)
        two_class = metrics.dice(
            pred, target, num_classes=2, ignore_background=True, reduction=reduction
        )
        np.testing.assert_allclose(np.squeeze(two_class), binary)


@st.composite
def label_masks(draw):
    """A (pred, target) pair of (N, H, W) class-index masks, and the number of classes C."""
    C = draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    labels = hnp.arrays(np.int64, shape, elements=st.integers(0, C - 1))
    return (draw(labels), draw(labels)), C


@given(label_masks())
def test_matches_the_set_formulas(case):
    (pred, target), C = case
    d = metrics.dice(pred, target, num_classes=C, reduction="none", empty=float("nan"))
    j = metrics.iou(pred, target, num_classes=C, reduction="none", empty=float("nan"))
    naive = np.array(
        [[naive_dice_iou(pred[n], target[n], c) for c in range(C)] for n in range(len(pred))]
    )  # (N, C, 2): Dice and IoU, NaN where the class is in neither mask
    np.testing.assert_allclose(d, naive[..., 0])
    np.testing.assert_allclose(j, naive[..., 1])
    # "mean" with empty=1.0: per image, then the mean over images, then over classes
    naive_dice = np.where(np.isnan(naive[..., 0]), 1.0, naive[..., 0])
    mean = metrics.dice(pred, target, num_classes=C, reduction="mean")
    assert mean == pytest.approx(naive_dice.mean(axis=0).mean())


@given(label_masks())
def test_iou_is_dice_over_two_minus_dice(case):
    (pred, target), C = case
    d = metrics.dice(pred, target, num_classes=C, reduction="none")
    j = metrics.iou(pred, target, num_classes=C, reduction="none")
    np.testing.assert_allclose(j, d / (2 - d))
    binary_pred, binary_target = pred % 2, target % 2
    d = metrics.dice(binary_pred, binary_target, reduction="none")
    j = metrics.iou(binary_pred, binary_target, reduction="none")
    np.testing.assert_allclose(j, d / (2 - d))


@given(label_masks())
def test_pooled_and_accuracy_agree_with_the_confusion_matrix(case):
    (pred, target), C = case
    M = metrics.confusion_matrix(pred, target, C)
    inter, size_pred, size_true = np.diag(M), M.sum(0), M.sum(1)
    total = size_pred + size_true
    per_class = np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)  # empty=1.0
    pooled = metrics.dice(pred, target, num_classes=C, reduction="pooled")
    assert pooled == pytest.approx(per_class.mean())
    assert metrics.pixel_accuracy(pred, target) == pytest.approx(inter.sum() / M.sum())


# --- errors -----------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 4, 4\).*\(2, 4, 5\)"):
        metrics.dice(np.zeros((2, 4, 4), int), np.zeros((2, 4, 5), int))
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(1, 4, 4\)"):
        metrics.pixel_accuracy(np.zeros((4, 4), int), np.zeros((1, 4, 4), int))
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(3, 4\)"):
        metrics.confusion_matrix(np.zeros((3, 3), int), np.zeros((3, 4), int), 2)


def test_bad_inputs_are_named():
    ok = np.zeros((2, 3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"\(2, 1, 3, 3\).*squeeze"):
        metrics.dice(ok[:, None], ok[:, None])
    with pytest.raises(ValueError, match="non-integer values such as 0.7"):
        metrics.dice(np.full((3, 3), 0.7), ok[0])
    with pytest.raises(ValueError, match=r"\[0, 2\] but a binary mask.*num_classes"):
        metrics.dice(ok + 2 * (np.arange(3) == 1), ok)
    with pytest.raises(ValueError, match=r"target holds values in \[0, 3\].*num_classes=3"):
        metrics.iou(ok, ok + 3 * (np.arange(3) == 0), num_classes=3)
    with pytest.raises(ValueError, match="reduction must be one of"):
        metrics.dice(ok, ok, reduction="sum")
    with pytest.raises(ValueError, match="no class"):
        metrics.dice(ok, ok, num_classes=1, ignore_background=True)
