"""Your own microscopy images, end to end: a handful of 16-bit TIFFs with instance labels
trains with the defaults, predicts instances, and is scored object by object."""

import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from test_data_check import nuclei_folder  # a sibling test module (tests/ is on sys.path)

from tinyunet import cli, io
from tinyunet.data.files import DataError
from tinyunet.data.normalize import percentile_normalize
from tinyunet.predict import load_model, load_preprocessing, predict, read_for_model
from tinyunet.train import TrainConfig, evaluate, make_trainer

TINY = ["--base-channels", "4", "--depth", "2", "--epochs", "1", "--no-progress"]


def test_three_16_bit_tiffs_train_with_the_defaults_and_predict_instances(tmp_path, capsys):
    data, run, pred = tmp_path / "data", tmp_path / "run", tmp_path / "pred"
    nuclei_folder(data, 3, size=64)          # images/ + masks/ only: the last one held out
    assert cli.main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert "objects found of" in out and "average precision" in out
    summary = json.loads((run / "metrics.json").read_text())
    # 2 training images < batch 8: repeated into one full batch of 64x64 crops per epoch
    assert summary["steps"] == 1
    true = len(np.unique(tifffile.imread(data / "masks" / "n2.tif"))) - 1
    assert summary["val_true_objects"] == true and 0 <= summary["val_ap"] <= 1
    assert {"val_ap", "val_ap50", "val_objects"} <= summary["history"][0].keys()

    checkpoint = run / "best.safetensors"
    assert load_preprocessing(checkpoint) == {"normalize": "percentile",
                                              "percentiles": (1.0, 99.8), "target": "classes"}
    assert cli.main(["predict", "--checkpoint", str(checkpoint), str(data / "images" / "n2.tif"),
                     "--out", str(pred), "--instances", "--overlay",
                     "--truth", str(data / "masks")]) == 0
    out = capsys.readouterr().out
    labels = tifffile.imread(pred / "n2_instances.tif")
    assert labels.dtype == np.uint16 and labels.shape == (64, 64)
    found = len(np.unique(labels)) - 1
    assert f"n2.tif: {found} objects" in out
    assert f"n2.tif: {found} objects found, {true} true; AP " in out and "mean over 1 images" in out
    overlay = np.asarray(Image.open(pred / "n2_overlay.png"))
    assert overlay.shape == (64, 64, 3)
    # predict scales the image as training did: by its own percentiles
    raw = tifffile.imread(data / "images" / "n2.tif")
    expected = predict(load_model(checkpoint), percentile_normalize(raw[None]))
    mask = np.asarray(Image.open(pred / "n2_mask.png"))
    np.testing.assert_array_equal(mask, expected * 255)


def test_predict_a_stack_page_by_page(tmp_path, capsys):
    nuclei_folder(tmp_path / "data", 2, size=32)
    run = tmp_path / "run"
    assert cli.main(["train", "--data", str(tmp_path / "data"), "--out", str(run),
                     "--crop", "32", "--target", "three_class", *TINY]) == 0
    stack = np.stack([tifffile.imread(tmp_path / "data" / "images" / f"n{i}.tif")
                      for i in range(2)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    assert cli.main(["predict", "--checkpoint", str(run / "last.safetensors"),
                     str(tmp_path / "stack.tif"), "--out", str(tmp_path / "pred"),
                     "--instances", "--overlay"]) == 0
    masks = tifffile.imread(tmp_path / "pred" / "stack_mask.tif")
    assert masks.shape == (2, 32, 32) and set(np.unique(masks)) <= {0, 127, 254}
    assert tifffile.imread(tmp_path / "pred" / "stack_instances.tif").shape == (2, 32, 32)
    for k in range(2):
        assert (tmp_path / "pred" / f"stack_overlay_{k}.png").exists()
    assert load_preprocessing(run / "last.safetensors")["target"] == "three_class"


def test_a_training_set_smaller_than_a_batch_fills_every_batch(tmp_path):
    assert (TrainConfig().w0, TrainConfig().sigma) == (10.0, 5.0)   # the U-Net paper's
    assert TrainConfig().crop == 64
    nuclei_folder(tmp_path / "train", 3, size=48)
    nuclei_folder(tmp_path / "val", 1, size=48, seed=1)
    config = TrainConfig(data=str(tmp_path), crop=32, batch_size=8, base_channels=4, depth=2,
                         epochs=1, loss="dice_weighted_ce")
    trainer = make_trainer(config, tmp_path / "run", progress=False)
    images, masks, labels, weights = next(iter(trainer.train_loader))
    assert images.shape == (8, 1, 32, 32) and weights.shape == (8, 32, 32)
    assert weights.max() > 5                     # the border term between touching nuclei
    assert len(trainer.train_loader) == 1
    trainer.fit()                                # one step, validated and saved


# ---------------------------------------------------------------- touching nuclei, three ways

# A tiny U-Net (depth 2, 8 base channels, batch norm) on 32x32 crops of 64x64 synthetic
# nuclei, 150 steps of batch 8: seconds per run.
NUCLEI = dict(data="nuclei", train_images=24, val_images=8, image_size=64, crop=32,
              base_channels=8, depth=2, norm="batch", batch_size=8, lr=5e-3, epochs=1,
              steps_per_epoch=150, seed=0)
WAYS = {"plain": {}, "weight map": dict(loss="weighted_ce"),
        "boundary class": dict(target="three_class", num_classes=3)}


@pytest.fixture(scope="module")
def nuclei_runs(tmp_path_factory):
    runs = {}
    for name, setting in WAYS.items():
        trainer = make_trainer(TrainConfig(**NUCLEI, **setting),
                               tmp_path_factory.mktemp(name.replace(" ", "_")), progress=False)
        trainer.fit()
        runs[name] = trainer
    return runs


def test_a_plain_binary_model_merges_touching_nuclei(nuclei_runs):
    plain = nuclei_runs["plain"]
    assert plain.summary()["val_dice"] > 0.95                   # the pixels are right ...
    merged = evaluate(plain.model, plain.val_loader, instances="components")
    assert merged["objects"] < 0.6 * merged["true_objects"]     # ... the nuclei are not
    assert merged["ap50"] < 0.45


def test_the_weight_map_or_the_boundary_class_counts_them(nuclei_runs):
    plain = nuclei_runs["plain"]
    merged = evaluate(plain.model, plain.val_loader, instances="components")
    split = plain.summary()                                     # its default: split at necks
    for name in ("weight map", "boundary class"):
        result = nuclei_runs[name].summary()
        true = result["val_true_objects"]
        assert abs(result["val_objects"] - true) <= 0.1 * true, name
        assert result["val_ap50"] > 0.9, name
        assert result["val_ap50"] > merged["ap50"] + 0.4, name
        assert result["val_ap50"] > split["val_ap50"], name     # beats the repair too


def test_images_are_read_as_the_model_takes_them(tmp_path, rng):
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    grey = read_for_model(tmp_path / "rgb.png", channels=1, normalize="bitdepth")
    pillow = np.asarray(Image.fromarray(rgb).convert("L")) / 255.0
    assert grey.shape == (1, 1, 9, 11)
    np.testing.assert_allclose(grey[0, 0], pillow, atol=1.01 / 255)   # the same luma, rounded
    tifffile.imwrite(tmp_path / "two.tif", np.zeros((2, 9, 11), np.uint16),
                     metadata={"axes": "CYX"})
    with pytest.raises(DataError, match=r"two.tif has 2 channels but the model takes 1"):
        read_for_model(tmp_path / "two.tif", channels=1)
    # a checkpoint from before the setting existed was trained on bit-depth-scaled images
    io.save({"model": {}}, tmp_path / "old.safetensors",
            metadata={"train_config": json.dumps({"data": "synthetic"})})
    assert load_preprocessing(tmp_path / "old.safetensors")["normalize"] == "bitdepth"
