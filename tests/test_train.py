"""The trainer (tinyunet.train): it learns, it resumes exactly, it stops cleanly."""

import csv
import json
import os
import signal
import time

import numpy as np
import pytest

from tinyunet import io
from tinyunet.ops.dice import dice_ce_loss
from tinyunet.train import TrainConfig, TrainingDiverged, make_trainer


def tiny(**overrides) -> TrainConfig:
    """A U-Net of depth 2 and 4 base channels on 32x32 crops of 64x64 synthetic cells."""
    settings = dict(train_images=16, val_images=4, image_size=64, crop=32, base_channels=4,
                    depth=2, batch_size=8, lr=1e-2, epochs=2, steps_per_epoch=3)
    return TrainConfig(**{**settings, **overrides})


def weights(trainer) -> dict:
    return {k: v.copy() for k, v in trainer.model.state_dict().items()}


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def interrupt_at(step):
    def callback(trainer):
        if trainer.step == step:
            raise KeyboardInterrupt
    return callback


def test_a_tiny_run_learns_to_segment(tmp_path):
    trainer = make_trainer(tiny(epochs=3, steps_per_epoch=20), tmp_path, progress=False)
    result = trainer.fit()
    history = result["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < 0.75 * history[0]["train_loss"]
    # chance: calling every pixel a cell scores 2p / (1 + p), below 0.5 for p = 15-35 % cells
    assert result["val_dice"] > 0.75
    assert result["val_pixel_accuracy"] > 0.85
    assert result["status"] == "completed" and result["steps"] == 60


def test_checkpoints_and_metrics_files(tmp_path):
    trainer = make_trainer(tiny(), tmp_path, progress=False)
    trainer.fit()
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "val_dice", "val_iou", "val_pixel_accuracy"} <= rows[0].keys()
    summary = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("val_dice", "val_pixel_accuracy", "train_seconds", "steps"):
        assert summary[key] is not None, key
    assert summary["steps"] == 6 and summary["train_seconds"] > 0

    last = io.load(tmp_path / "last.safetensors")
    assert (last["epoch"], last["step"], last["epoch_step"]) == (2, 6, 0)
    assert last["model_config"] == trainer.model.config
    assert last["train_config"]["base_channels"] == 4
    assert_same_weights(last["model"], weights(trainer))
    metadata = io.read_metadata(tmp_path / "last.safetensors")
    assert json.loads(metadata["model_config"]) == trainer.model.config
    best = io.load(tmp_path / "best.safetensors")
    best_epoch = max(trainer.history, key=lambda r: r["val_dice"])["epoch"]
    assert best["epoch"] == best_epoch


def test_resume_after_an_epoch_equals_an_uninterrupted_run(tmp_path):
    straight = make_trainer(tiny(), tmp_path / "a", progress=False)
    straight.fit()

    make_trainer(tiny(epochs=1), tmp_path / "b", progress=False).fit()  # stops after epoch 1
    resumed = make_trainer(tiny(), tmp_path / "b", progress=False)  # a fresh start: new weights
    resumed.fit(resume=True)

    assert_same_weights(weights(resumed), weights(straight))
    assert resumed.step == straight.step == 6
    assert resumed.history[-1]["val_dice"] == straight.history[-1]["val_dice"]
    exp_avg = [s["exp_avg"] for s in resumed.optimizer.state_dict()["state"].values()]
    expected = [s["exp_avg"] for s in straight.optimizer.state_dict()["state"].values()]
    for a, b in zip(exp_avg, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("anneal", [False, True])
def test_ctrl_c_saves_a_checkpoint_that_resumes_mid_epoch(tmp_path, anneal):
    straight = make_trainer(tiny(anneal=anneal), tmp_path / "a", progress=False)
    straight.fit()

    interrupted = make_trainer(tiny(anneal=anneal), tmp_path / "b", progress=False,
                               callbacks=[interrupt_at(4)])
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    saved = io.load(tmp_path / "b" / "last.safetensors")
    assert (saved["epoch"], saved["step"], saved["epoch_step"]) == (1, 4, 1)  # mid-epoch 2
    assert_same_weights(saved["model"], weights(interrupted))
    status = json.loads((tmp_path / "b" / "metrics.json").read_text())["status"]
    assert status == "interrupted"

    resumed = make_trainer(tiny(anneal=anneal), tmp_path / "b", progress=False)
    resumed.fit(resume=True)
    assert_same_weights(weights(resumed), weights(straight))
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"]
                                                          for r in straight.history]


def test_ctrl_c_during_the_update_waits_for_it_to_finish(tmp_path):
    """A real SIGINT arriving inside optimizer.step(): the update completes, then the run
    stops, so the checkpoint's weights are those of a whole step."""
    trainer = make_trainer(tiny(), tmp_path, progress=False)
    step = trainer.optimizer.step

    def step_with_ctrl_c():
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # delivered now, before the update below
        step()

    trainer.optimizer.step = step_with_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    saved = io.load(tmp_path / "last.safetensors")
    assert saved["step"] == 3
    assert_same_weights(saved["model"], weights(trainer))
    adam_steps = {s["step"] for s in saved["optimizer"]["state"].values()}
    assert adam_steps == {3}  # every parameter got its third update, none is half-done


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = None

    def poisoned(logits, target):  # fine for 4 steps, then NaN
        loss = dice_ce_loss(logits, target)
        return loss * float("nan") if trainer.step >= 4 else loss

    trainer = make_trainer(tiny(epochs=3), tmp_path, progress=False)
    trainer.loss_fn = poisoned
    with pytest.raises(TrainingDiverged, match=r"loss became NaN or inf at epoch 2, step 5"):
        trainer.fit()
    saved = io.load(tmp_path / "last.safetensors")
    assert (saved["epoch"], saved["step"]) == (1, 3)  # the end of epoch 1, untouched
    assert all(np.isfinite(w).all() for w in saved["model"].values())
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_an_absurd_learning_rate_is_caught(tmp_path):
    """After a good first epoch the learning rate jumps to 1e8: the weights explode, the next
    logits overflow, and the run stops before saving anything from the blown-up weights."""
    def explode(trainer):
        if trainer.step == 3:
            trainer.optimizer.param_groups[0]["lr"] = 1e8

    trainer = make_trainer(tiny(epochs=3), tmp_path, progress=False, callbacks=[explode])
    with pytest.raises(TrainingDiverged, match=r"lr 1e\+08\).*last good checkpoint.*epoch 1"):
        trainer.fit()
    saved = io.load(tmp_path / "last.safetensors")
    assert saved["step"] == 3
    assert all(np.isfinite(w).all() for w in saved["model"].values())


def test_anneal_decays_the_learning_rate_linearly_to_zero(tmp_path):
    trainer = make_trainer(tiny(anneal=True, lr=0.01), tmp_path, progress=False)
    trainer.fit()
    # step k (0-based) runs at lr_0 (1 - k / 6): steps 2 and 5 end the two epochs
    assert [row["lr"] for row in trainer.history] == pytest.approx([0.01 * 4 / 6, 0.01 / 6])


def test_time_budget_stops_validates_and_saves(tmp_path):
    slow = lambda trainer: time.sleep(0.2)  # noqa: E731
    trainer = make_trainer(tiny(epochs=100, max_seconds=1.0), tmp_path, progress=False,
                           callbacks=[slow])
    result = trainer.fit()
    assert result["status"] == "max_seconds"
    assert 0 < result["steps"] < 300
    assert result["history"][-1]["step"] == result["steps"]  # the last, partial epoch counted
    assert io.load(tmp_path / "last.safetensors")["step"] == result["steps"]


def test_stop_when_ends_the_run_at_the_first_epoch_that_meets_it(tmp_path):
    trainer = make_trainer(tiny(epochs=5), tmp_path, progress=False)
    seen = []
    trainer.stop_when = lambda row: seen.append(row["epoch"]) or row["epoch"] == 2
    result = trainer.fit()
    assert seen == [1, 2] and result["status"] == "stopped early"
    assert result["epochs"] == 2 and result["steps"] == 6
    assert io.load(tmp_path / "last.safetensors")["epoch"] == 2  # validated and saved first


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        make_trainer(tiny(), tmp_path, progress=False).fit(resume=True)
