"""Every training setting reaches the PyTorch side. A run with the U-Net paper's weighted loss,
the three-class target, its own percentiles and a set small enough to be repeated, exported:
``train_ddp.py`` trains on the run's data (images scaled as the run scaled them, its targets,
each image's weight map, each image served as often as the run served it, the map moving with
its image under every crop, flip and turn), scores validation as tinyunet does, and what
comes back predicts as the run would. A setting the script cannot carry is refused at export,
by name, before anything is written."""

import json
import sys
from dataclasses import fields

import numpy as np
import pytest

from tests.test_export import load_module
from tinyunet import io
from tinyunet.cli import main
from tinyunet.data.weights import unet_weight_map
from tinyunet.interop import export_torch, import_torch
from tinyunet.interop.settings import CARRIED, SCRIPT_VALUES, NotCarried
from tinyunet.predict import load_model, load_preprocessing
from tinyunet.train import TrainConfig, train
from tinyunet.train.config import LOSSES, OPTIMIZERS, make_datasets
from tinyunet.train.datasets import repeats
from tinyunet.train.evaluate import evaluate

WEIGHTED_RUN = TrainConfig(train_images=3, val_images=2, image_size=32, crop=16, base_channels=4,
                           depth=2, batch_size=4, epochs=1, loss="dice_weighted_ce",
                           target="three_class", num_classes=3, percentile_low=2.0,
                           percentile_high=98.0, w0=5.0, sigma=3.0)


@pytest.fixture(scope="module")
def weighted(tmp_path_factory):
    """The run (one step: 3 images served twice make one batch of 4), trained and exported."""
    root = tmp_path_factory.mktemp("weighted")
    train(WEIGHTED_RUN, root / "run", progress=False, figures=False)
    export_torch(root / "run" / "last.safetensors", root / "out", progress=False)
    return root


@pytest.fixture
def script(torch, weighted, monkeypatch):
    monkeypatch.setitem(sys.modules, "model", load_module(weighted / "out" / "model.py"))
    monkeypatch.delenv("RANK", raising=False)  # one process, no DDP
    return load_module(weighted / "out" / "train_ddp.py")


def test_the_data_are_the_runs_with_weight_maps_and_repeats(weighted):
    train_set, val_set = make_datasets(WEIGHTED_RUN)
    for split, items in (("train", train_set), ("val", val_set)):
        with np.load(weighted / "out" / "data" / f"{split}.npz") as f:
            assert len(f.files) == 3 * len(items) + (split == "train")
            for i, (image, target, labels, weight) in enumerate(items):
                np.testing.assert_array_equal(f[f"image_{i:05d}"], image)
                np.testing.assert_array_equal(f[f"mask_{i:05d}"], target)
                np.testing.assert_array_equal(f[f"weight_{i:05d}"], weight)
                # the map of the run's w0 and sigma, over the objects the target keeps apart
                objects = np.where(target > 0, labels, 0)
                np.testing.assert_allclose(weight, unet_weight_map(objects, w0=5.0, sigma=3.0))
                assert not np.allclose(weight, unet_weight_map(objects))
            if split == "train":
                assert int(f["repeats"]) == repeats(WEIGHTED_RUN, train_set) == 2
            # the run's percentiles scaled each image; its targets have three classes
            np.testing.assert_allclose(np.percentile(f["image_00000"], [2, 98]), [0, 1],
                                       atol=1e-6)
            assert set(np.unique(f["mask_00000"])) == {0, 1, 2}


def test_weight_maps_travel_with_their_images(script, tmp_path):
    """Under every crop, flip and quarter turn the mask and the weight map stay on their
    pixels (here both are functions of the pixel's value); each image is served `repeats`
    times an epoch, each time another window."""
    pixels = np.arange(2 * 64, dtype=np.float32).reshape(2, 1, 8, 8)
    arrays = {"repeats": np.int64(3)}
    for i, image in enumerate(pixels):
        arrays |= {f"image_{i:05d}": image, f"mask_{i:05d}": (image[0] % 3).astype(np.uint8),
                   f"weight_{i:05d}": image[0] / 2 + 1}
    np.savez(tmp_path / "train.npz", **arrays)
    data = script.Segmentation(tmp_path / "train.npz", crop=4, augment=True, weighted=True)
    assert len(data) == 6
    windows = set()
    for epoch in range(4):
        data.epoch = epoch
        for i in range(len(data)):
            image, mask, weight = (a.numpy() for a in data[i])
            assert image.shape == (1, 4, 4)
            np.testing.assert_array_equal(mask, image[0] % 3)
            np.testing.assert_array_equal(weight, image[0] / 2 + 1)
            windows.add(image.tobytes())
    assert len(windows) > 12                          # fresh windows, not one per image
    assert len(script.Segmentation(tmp_path / "train.npz")[0]) == 2   # unweighted: no map
    del arrays["weight_00000"], arrays["weight_00001"]
    np.savez(tmp_path / "bare.npz", **arrays)
    with pytest.raises(SystemExit, match="no weight maps"):
        script.Segmentation(tmp_path / "bare.npz", weighted=True)


def test_validation_scores_as_tinyunet(script, weighted, torch):
    """The script's validation loss (weighted, three classes) and Dice (per foreground class,
    averaged over images, then classes) are tinyunet's, in float64."""
    net = script.exported.load(weighted / "out" / "model.safetensors").double()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights that predict every class somewhere: no vacuous Dice
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    loss, dice = script.validate(net, weighted / "out" / "data" / "val.npz",
                                 script.LOSSES["dice_weighted_ce"], torch.device("cpu"),
                                 depth=2, weighted=True)
    model = load_model(weighted / "run" / "last.safetensors").double()
    model.load_state_dict({k: v.numpy() for k, v in net.state_dict().items()})
    batches = [(image[None].astype(np.float64), target[None], labels[None],
                weight[None].astype(np.float64))
               for image, target, labels, weight in make_datasets(WEIGHTED_RUN)[1]]
    ours = evaluate(model, batches, 3, LOSSES["dice_weighted_ce"], instances=None)
    np.testing.assert_allclose(loss, ours["loss"], rtol=1e-10)
    assert dice == pytest.approx(ours["dice"], abs=1e-12)
    assert 0.05 < dice < 0.95


def test_the_script_continues_the_run_and_it_predicts_as_the_run(script, weighted, tmp_path):
    """Two more steps of the weighted run; the imported result scales images with the run's
    percentiles and reads its output as the three classes, as the run's checkpoint does."""
    out = tmp_path / "ddp"
    script.main(["--steps", "2", "--out", str(out), "--device", "cpu", "--log-every", "1"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["step"] == 3
    assert np.isfinite(metrics["losses"]).all() and np.isfinite(metrics["val_loss"])
    assert 0 <= metrics["val_dice"] <= 1
    back = import_torch(out / "model.safetensors", out / "arch.json", tmp_path / "back.st")
    expected = {"normalize": "percentile", "percentiles": (2.0, 98.0), "target": "three_class"}
    assert load_preprocessing(weighted / "run" / "last.safetensors") == expected
    assert load_preprocessing(back) == expected


def test_every_setting_has_a_way_across():
    """A new TrainConfig setting fails here until the export says what becomes of it; the
    values the script interprets are tinyunet's."""
    assert set(CARRIED) == {f.name for f in fields(TrainConfig)}
    assert set(SCRIPT_VALUES["loss"]) == set(LOSSES)
    assert set(SCRIPT_VALUES["optimizer"]) == set(OPTIMIZERS)


def test_a_setting_the_script_cannot_carry_is_refused_by_name(weighted, tmp_path, capsys):
    state = io.load(weighted / "run" / "last.safetensors")
    state["train_config"] |= {"loss": "focal", "mixup": 0.2}
    io.save(state, tmp_path / "bad.safetensors")
    with pytest.raises(NotCarried) as error:
        export_torch(tmp_path / "bad.safetensors", tmp_path / "out")
    assert "loss='focal'" in str(error.value) and "mixup=0.2" in str(error.value)
    assert not (tmp_path / "out").exists()
    assert main(["export", "--torch", str(tmp_path / "bad.safetensors"),
                 str(tmp_path / "out")]) == 2
    assert "loss='focal': train_ddp.py knows" in capsys.readouterr().err
