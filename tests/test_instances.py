"""Objects: targets from instance labels, instances from predictions, the DSB 2018 score."""

import numpy as np
import pytest
from scipy import ndimage

from tinyunet import instances as inst
from tinyunet.data import distance_transform, label_components, unet_weight_map
from tinyunet.data import targets as T
from tinyunet.data.nuclei import SyntheticNuclei
from tinyunet.data.sampling import Repeat, WithWeightMaps
from tinyunet.instance_metrics import (
    THRESHOLDS,
    average_precision,
    count,
    instance_scores,
    iou_matrix,
)
from tinyunet.overlay import overlay


def touching_squares():
    """Two 4x4 objects side by side, touching along a column, in a 6x12 image."""
    labels = np.zeros((6, 12), np.int32)
    labels[1:5, 1:5] = 1
    labels[1:5, 5:9] = 2
    return labels


def discs(centres, radius, shape=(40, 60)):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int32)
    for k, (cy, cx) in enumerate(centres, start=1):
        labels[((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2) & (labels == 0)] = k
    return labels


# ---------------------------------------------------------------- targets


def test_mask_kinds():
    assert T.mask_kind([0, 1]) == ("classes", None)
    assert T.mask_kind([0, 255]) == ("binary", 255)
    assert T.mask_kind([0, 65535]) == ("binary", 65535)
    assert T.mask_kind([0, 1, 2, 3]) == ("instances", None)      # 2 classes: labels
    assert T.mask_kind([0, 1, 2], num_classes=3) == ("classes", None)
    with pytest.raises(ValueError, match="unexpected values 5"):
        T.mask_kind([0, 1, 5], num_classes=3)
    with pytest.raises(ValueError, match="negative values"):
        T.mask_kind([-1, 0, 1])


def test_contact_separated_and_three_class_of_touching_objects():
    labels = touching_squares()
    contact = T.contact(labels)
    np.testing.assert_array_equal(np.nonzero(contact.any(axis=0))[0], [4, 5])  # 2 px line
    assert contact[1:5, 4:6].all() and contact.sum() == 8
    sep = T.separated(labels)
    assert set(np.unique(sep)) == {0, 1, 2}
    assert (sep[:, 4:6] == 0).all()
    assert ndimage.label(T.foreground(sep))[1] == 2               # the gap keeps them apart
    assert ndimage.label(T.foreground(labels))[1] == 1            # merged without it
    three = T.three_class(labels)
    assert (three[2:4, 2:4] == T.INTERIOR).all() and (three[2:4, 6:8] == T.INTERIOR).all()
    assert (three[1:5, 4:6] == T.BOUNDARY).all() and (three[0] == T.BACKGROUND).all()
    lone = np.zeros((5, 5), np.int32)
    lone[1:4, 1:4] = 3
    np.testing.assert_array_equal(T.separated(lone), lone)       # nothing touches: unchanged


def test_components_match_the_teaching_labeller_and_edt_matches_scipy(rng):
    for _ in range(3):
        mask = rng.random((23, 31)) < 0.45
        np.testing.assert_array_equal(T.components(mask), label_components(mask))
        np.testing.assert_allclose(distance_transform(mask),
                                   ndimage.distance_transform_edt(~mask))


# ---------------------------------------------------------------- weight maps and sampling


def test_weight_maps_peak_on_the_separation_line_and_are_cached():
    labels = discs([(20, 22), (20, 36)], 8)                      # overlapping: they touch
    target = T.foreground(T.separated(labels))
    data = WithWeightMaps([(np.zeros((1, 40, 60), np.float32), target, labels)], w0=10, sigma=5)
    image, t, lab, w = data[0]
    np.testing.assert_allclose(w, unet_weight_map(np.where(target > 0, labels, 0)), rtol=1e-6)
    gap = T.contact(labels)
    assert w[gap].min() > 8 + w[labels == 0].min()               # the line weighs ~w0 more
    assert data[0][3] is w                                       # computed once
    with pytest.raises(ValueError, match="items must be"):
        WithWeightMaps([(image, t)])[0]


def test_repeat_serves_each_item_times():
    data = Repeat([("a",), ("b",), ("c",)], 3)
    assert len(data) == 9 and [data[i][0] for i in range(9)] == list("abc" * 3)
    with pytest.raises(IndexError):
        data[9]


# ---------------------------------------------------------------- from predictions to objects


def test_split_touching_splits_necks_and_keeps_elongated_objects_whole():
    labels = discs([(20, 22), (20, 36)], 8)
    assert count(inst.from_foreground(labels > 0)) == 1          # components: one blob
    split = inst.split_touching(labels > 0)
    assert count(split) == 2
    assert iou_matrix(labels, split).max(axis=1).min() > 0.85
    yy, xx = np.mgrid[:60, :100]
    ellipse = ((xx - 50) / 40) ** 2 + ((yy - 30) / 12) ** 2 <= 1   # 3.3 : 1
    assert count(inst.split_touching(ellipse)) == 1
    assert count(inst.split_touching(np.zeros((8, 8)))) == 0


def test_three_class_prediction_gives_back_the_objects():
    labels = discs([(20, 18), (20, 32), (20, 46)], 8)
    found = inst.from_three_class(T.three_class(labels))
    assert count(found) == 3
    assert average_precision(labels, found) == 1.0


def test_small_objects_are_dropped_and_labels_renumbered():
    mask = np.zeros((10, 10), int)
    mask[0, 0] = 1                                               # 1 px: not a nucleus
    mask[4:8, 4:8] = 1
    labels = inst.from_foreground(mask, min_size=8)
    assert count(labels) == 1 and labels.max() == 1
    np.testing.assert_array_equal(inst.relabel(np.array([[0, 7, 7, 3]])), [[0, 1, 1, 2]])


def test_overlay_draws_each_objects_outline():
    labels = touching_squares()
    image = np.zeros((6, 12), np.float32)
    out = overlay(image, labels > 0, instances=labels)
    yellow = (out == (255, 255, 0)).all(axis=-1)
    np.testing.assert_array_equal(yellow, inst.outlines(labels))
    assert yellow[1:5, 4].all() and yellow[1:5, 5].all()         # the line between the two
    assert not yellow[2:4, 2:4].any()


# ---------------------------------------------------------------- the DSB 2018 score


def test_iou_matrix_by_hand():
    true = np.array([[1, 1, 0, 2, 2, 2]])
    pred = np.array([[5, 5, 5, 0, 9, 9]])
    # true 1 (2 px) vs pred 5 (3 px): 2 / 3; true 2 (3 px) vs pred 9 (2 px): 2 / 3
    np.testing.assert_allclose(iou_matrix(true, pred), [[2 / 3, 0], [0, 2 / 3]])


def test_average_precision_by_hand():
    labels = touching_squares()
    assert average_precision(labels, labels) == 1.0
    merged = (labels > 0).astype(int)                            # IoU 16 / 32 = 0.5, not > 0.5
    assert average_precision(labels, merged) == 0.0              # 0 TP, 1 FP, 2 FN
    one = np.where(labels == 1, 1, 0)
    assert average_precision(labels, one) == 0.5                 # 1 TP, 0 FP, 1 FN
    true = np.zeros((10, 10), int)
    true[:, :] = 1
    pred = np.zeros((10, 10), int)
    pred[:7] = 1                                                 # IoU 0.7: a TP for t < 0.7
    assert list(THRESHOLDS) == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert average_precision(true, pred) == pytest.approx(0.4)   # 4 of the 10 thresholds
    assert average_precision(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    scores = instance_scores([labels, labels], [labels, merged])
    assert scores == {"ap": 0.5, "ap50": 0.5, "objects": 3, "true_objects": 4}
    with pytest.raises(ValueError, match="differ in shape"):
        iou_matrix(labels, labels[:3])


# ---------------------------------------------------------------- synthetic nuclei


def test_synthetic_nuclei_touch_and_keep_their_labels():
    data = SyntheticNuclei(4, size=64, seed=1)
    touching = 0
    for i in range(4):
        image, mask, labels = data[i]
        assert image.shape == (1, 64, 64) and image.dtype == np.float32
        np.testing.assert_array_equal(mask, labels > 0)
        touching += len(np.unique(labels[T.contact(labels)]))
        for a, b in zip(data[i], SyntheticNuclei(9, size=64, seed=1)[i]):
            np.testing.assert_array_equal(a, b)                  # item i alone, any n
    assert touching >= 8                                         # merged blobs are common
    raw = SyntheticNuclei(2, size=64, seed=1, dtype="uint16", saturated=1.0)[0][0]
    assert raw.dtype == np.uint16 and raw.max() == 65535          # bright nuclei saturate
    with pytest.raises(ValueError, match="dtype must be"):
        SyntheticNuclei(1, dtype="uint8")
