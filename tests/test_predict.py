"""Overlap-tile prediction (tinyunet.predict) against a single forward of the whole image."""

import numpy as np
import pytest

import tinyunet as tu
from tinyunet import metrics
from tinyunet.data import SyntheticCells
from tinyunet.models import UNet
from tinyunet.predict import predict, predict_logits
from tinyunet.train import TrainConfig, make_trainer


@pytest.fixture
def model():
    tu.manual_seed(0)  # untrained, but deterministic
    return UNet(base_channels=4, depth=2)


@pytest.fixture
def image():
    return SyntheticCells(1, size=128, seed=3)[0][0]  # (1, 128, 128)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small U-Net trained for 40 steps on 32x32 crops: it segments the cells roughly."""
    config = TrainConfig(train_images=16, val_images=2, image_size=64, crop=32,
                         base_channels=4, depth=2, lr=1e-2, epochs=1, steps_per_epoch=40)
    trainer = make_trainer(config, tmp_path_factory.mktemp("run"), progress=False)
    trainer.fit()
    return trainer.model


def test_overlap_tile_agrees_with_whole_image(trained):
    """An image four tiles wide: the stitched mask matches the whole-image mask (Dice >= 0.99).

    (An untrained network makes a poor judge here: its logits differ by ~1e-3 between the
    classes, so the zero padding of the whole-image forward versus the mirrored border of the
    tiles flips pixels along the image's edge. The interior is tested exactly below.)
    """
    image = SyntheticCells(1, size=128, seed=3, radius=(3.0, 6.5))[0][0]  # the training scale
    whole = predict(trained, image)
    tiled = predict(trained, image, tile=32)  # 16 tiles, 8 px dropped on each side
    assert whole.shape == tiled.shape == (128, 128)
    assert 0.05 < whole.mean() < 0.95  # a real mask, neither empty nor full
    assert metrics.dice(tiled, whole) >= 0.99


def test_overlap_tile_is_exact_away_from_the_border(model, image):
    """With a margin wider than the receptive field and tiles on the pooling grid, each kept
    centre sees exactly what the whole-image forward sees: same logits, up to rounding.
    (Only within the receptive field of the image border do they differ: mirrored pixels
    there, the convolutions' zero padding in the single forward.)"""
    whole = predict_logits(model, image)
    tiled = predict_logits(model, image, tile=96, overlap=32)
    inner = (slice(None), slice(32, -32), slice(32, -32))
    np.testing.assert_allclose(tiled[inner], whole[inner], rtol=1e-4, atol=1e-5)


def test_any_image_size(model):
    """Sizes that are no multiple of the tile or of 2**depth: mirrored up, cropped back."""
    image = np.random.default_rng(0).random((50, 70), dtype=np.float32)
    assert predict(model, image).shape == (50, 70)
    assert predict(model, image, tile=32).shape == (50, 70)
    mask = predict(model, image, tile=16, overlap=0)  # plain tiling, no overlap
    assert mask.dtype.kind == "i" and set(np.unique(mask)) <= {0, 1}


def test_valid_padding_tiles_do_not_show(image):
    """The paper's own case: a 'valid' U-Net trims its input (60 -> 20, 76 -> 36 here), and
    tiles overlap by what it trims. Two tilings stitch to the same full-size result."""
    tu.manual_seed(1)
    valid = UNet(base_channels=4, depth=2, padding="valid")
    crop = image[:, :72, :72]
    a = predict_logits(valid, crop, tile=60)
    b = predict_logits(valid, crop, tile=76)
    assert a.shape == b.shape == (2, 72, 72)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="valid"):
        predict_logits(valid, crop)  # whole-image prediction cannot give a full-size mask


def test_bad_tiles_are_explained(model, image):
    with pytest.raises(ValueError, match="multiple of 2\\*\\*depth = 4"):
        predict(model, image, tile=30)
    with pytest.raises(ValueError, match="overlap 16 leaves nothing"):
        predict(model, image, tile=32, overlap=16)


def test_prediction_leaves_the_model_mode_alone(model, image):
    model.train()
    predict(model, image)
    assert model.training
