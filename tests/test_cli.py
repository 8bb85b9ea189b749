"""The command line (tinyunet.cli): help, summary, train -> predict, resume, the demo's report."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tinyunet import cli
from tinyunet.cli import demo as demo_command
from tinyunet.data import SyntheticCells
from tinyunet.train import TrainConfig

TINY = ["--train-images", "8", "--val-images", "2", "--image-size", "32", "--crop", "0",
        "--base-channels", "4", "--depth", "2", "--steps-per-epoch", "2", "--no-progress"]


def subcommands():
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return action.choices


@pytest.mark.parametrize("name", ["demo", "train", "predict", "summary"])
def test_help_of_every_command_names_its_options(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([name, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    for action in subcommands()[name]._actions:
        for option in action.option_strings:
            assert option in text, option


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name in ("demo", "train", "predict", "summary"):
        assert name in text
    assert cli.main([]) == 2  # no command: the help, and a usage error status


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run([sys.executable, "-m", "tinyunet", "summary", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--base-channels" in done.stdout


def test_summary_shows_the_lessons_384_channels(capsys):
    """Base 64 with bilinear upsampling: the 256 upsampled channels meet the 128 of the skip."""
    assert cli.main(["summary", "--base-channels", "64", "--up-mode", "bilinear",
                     "--size", "32"]) == 0
    text = capsys.readouterr().out
    assert "256 + 128 -> 384" in text
    assert "total parameters" in text


@pytest.mark.parametrize("model, marked", [("attention", "* skip.1"), ("residual",
                                            "* bottleneck"), ("unetpp", "* x_0_2")])
def test_summary_of_a_variant_marks_what_it_changes(model, marked, capsys):
    assert cli.main(["summary", "--model", model, "--base-channels", "4", "--depth", "2",
                     "--size", "16"]) == 0
    text = capsys.readouterr().out
    assert marked in text and "* changed from the plain U-Net" in text


def test_summary_in_valid_mode_shows_the_crop_at_each_skip(capsys):
    assert cli.main(["summary", "--base-channels", "4", "--padding", "valid",
                     "--size", "572"]) == 0
    assert "crop 136->104" in capsys.readouterr().out


def test_summary_without_a_size_takes_the_nearest_legal_one_and_plans_it(capsys):
    """The 3-D U-Net's 'valid' depth 3 does not take 128: the default moves to 132."""
    assert cli.main(["summary", "--model", "unet3d", "--base-channels", "2", "--plan"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("input size 132: 128 is not legal for UNet3D(depth=3")
    assert "U-Net size plan: input (132, 132, 132)" in text and "output (44, 44, 44)" in text
    assert "(1, 1, 132, 132, 132)" in text and "crop 128->48" in text


def test_summary_refuses_an_illegal_size_with_the_nearest_legal_ones():
    nearest = r"sizes are \(124, 124, 124\) \(below\) and \(132, 132, 132\)"
    with pytest.raises(SystemExit, match=nearest):
        cli.main(["summary", "--model", "unet3d", "--base-channels", "2", "--size", "128"])


def test_summary_refuses_an_option_the_model_lacks():
    with pytest.raises(SystemExit, match="--model unetpp has no --no-skips option"):
        cli.main(["summary", "--model", "unetpp", "--no-skips"])
    with pytest.raises(SystemExit, match="padding='valid' is not supported"):
        cli.main(["summary", "--model", "unetpp", "--padding", "valid"])


def test_train_takes_a_model_from_the_family(tmp_path):
    args = cli.build_parser().parse_args(["train", "--out", str(tmp_path), "--model",
                                          "attention"])
    from tinyunet.cli.train import train_config_from_args

    assert train_config_from_args(args).model == "attention"
    with pytest.raises(ValueError, match="unknown model 'unet4d'"):
        TrainConfig(model="unet4d").validate()


def test_train_then_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "--out", str(run), "--epochs", "1", *TINY]) == 0
    for name in ("last.safetensors", "best.safetensors", "metrics.csv", "metrics.json",
                 "curves.png", "predictions.png"):
        assert (run / name).exists(), name

    image = SyntheticCells(1, size=(40, 56), seed=5)[0][0]
    Image.fromarray((image[0] * 255).astype(np.uint8)).save(tmp_path / "cells.png")
    out = tmp_path / "pred"
    assert cli.main(["predict", "--checkpoint", str(run / "best.safetensors"),
                     str(tmp_path / "cells.png"), "--out", str(out), "--overlay",
                     "--tile", "16"]) == 0
    mask = np.asarray(Image.open(out / "cells_mask.png"))
    assert mask.shape == (40, 56) and set(np.unique(mask)) <= {0, 255}
    overlay = np.asarray(Image.open(out / "cells_overlay.png"))
    assert overlay.shape == (40, 56, 3)
    assert "cells_mask.png" in capsys.readouterr().out


def write_folder(root, n, size, seed):
    """``root/images/*.png`` and ``root/masks/*.png`` (0/255) from synthetic cells."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    data = SyntheticCells(n, size=size, seed=seed)
    for i in range(n):
        image, mask = data[i]
        Image.fromarray((image[0] * 255).astype(np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray((mask * 255).astype(np.uint8)).save(root / "masks" / f"{i}.png")


def test_train_on_a_folder_of_pngs(tmp_path, capsys):
    """Validation images of 42x50, no multiple of 2**depth: mirrored up for the forward."""
    write_folder(tmp_path / "data" / "train", 8, 48, seed=0)
    write_folder(tmp_path / "data" / "val", 2, (42, 50), seed=1)
    run = tmp_path / "run"
    assert cli.main(["train", "--data", str(tmp_path / "data"), "--out", str(run),
                     "--crop", "32", "--base-channels", "4", "--depth", "2", "--epochs", "1",
                     "--steps-per-epoch", "2", "--no-progress"]) == 0
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["steps"] == 2 and 0 <= summary["val_dice"] <= 1
    assert (run / "predictions.png").exists()


def test_train_resume_continues_with_the_saved_settings(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert cli.main(["train", "--out", run, "--epochs", "1", "--lr", "0.003", *TINY]) == 0
    assert cli.main(["train", "--out", run, "--resume", "--epochs", "2", "--no-progress"]) == 0
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [row["epoch"] for row in summary["history"]] == [1, 2]
    assert summary["steps"] == 4
    assert summary["history"][-1]["lr"] == 0.003  # the saved setting, not the default
    with pytest.raises(SystemExit, match="nothing to resume"):
        cli.main(["train", "--out", str(tmp_path / "empty"), "--resume"])


def test_demo_reports_time_dice_and_figures(tmp_path, monkeypatch, capsys):
    """The demo's plumbing on a tiny recipe (the real one is `make demo`): the report, the
    files, and an exit status that says whether the Dice target was met."""
    def tiny_recipe(seconds, seed=0):
        return TrainConfig(train_images=8, val_images=2, image_size=32, crop=None,
                           base_channels=4, depth=2, epochs=2, steps_per_epoch=2,
                           max_seconds=seconds, seed=seed)

    monkeypatch.setattr(demo_command, "demo_config", tiny_recipe)
    out = tmp_path / "demo"
    status = cli.main(["demo", "--out", str(out), "--seconds", "60", "--target", "0",
                       "--no-progress"])
    text = capsys.readouterr().out
    assert status == 0
    assert "target reached" in text and "Dice" in text and "s per training step" in text
    assert str(out / "curves.png") in text and str(out / "predictions.png") in text
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("val_dice", "val_pixel_accuracy", "train_seconds", "steps"):
        assert metrics[key] is not None, key

    status = cli.main(["demo", "--out", str(out), "--seconds", "60", "--target", "1.01",
                       "--no-progress"])
    assert status == 1
    assert "TARGET NOT REACHED" in capsys.readouterr().out


def test_demo_stops_at_its_target_unless_told_to_keep_going(tmp_path, monkeypatch, capsys):
    def tiny_recipe(seconds, seed=0):
        return TrainConfig(train_images=8, val_images=2, image_size=32, crop=None,
                           base_channels=4, depth=2, epochs=3, steps_per_epoch=2,
                           max_seconds=seconds, seed=seed)

    monkeypatch.setattr(demo_command, "demo_config", tiny_recipe)
    for extra, epochs in (([], 1), (["--keep-going"], 3)):
        out = tmp_path / f"demo{len(extra)}"
        assert cli.main(["demo", "--out", str(out), "--target", "0", "--no-progress",
                         *extra]) == 0
        text = capsys.readouterr().out
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["epochs"] == epochs  # Dice >= 0 is met at the first validation
        for dice in (0.90, 0.95):  # each milestone: the first validation that reached it
            at = next((row["seconds"] for row in metrics["history"] if row["val_dice"] >= dice),
                      None)
            said = "not reached" if at is None else f"reached after {at:.1f} s of training"
            assert f"validation Dice {dice:.2f} {said}" in text
