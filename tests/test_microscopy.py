"""Your own microscopy images, end to end: a handful of 16-bit TIFFs with instance labels
trains with the defaults, predicts instances, and is scored object by object."""

import json

import numpy as np
import tifffile
from PIL import Image

from tinyunet import cli
from tinyunet.data.normalize import percentile_normalize
from tinyunet.predict import load_model, load_preprocessing, predict
from tinyunet.train import TrainConfig, make_trainer

from test_data_check import nuclei_folder  # a sibling test module (tests/ is on sys.path)

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
