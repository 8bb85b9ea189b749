"""Scale-out on PyTorch's engine: a tinyunet run, exported, continues under
``torchrun --standalone --nproc-per-node=2 OUT/train_ddp.py --steps 2`` (two CPU processes,
gloo), and what it writes comes back into tinyunet and predicts. Also: the script's losses
are tinyunet's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinyunet as tu
from tests.test_export import load_module
from tinyunet import io
from tinyunet.cli import main
from tinyunet.predict import load_model
from tinyunet.train import TrainConfig, train

TINY_RUN = TrainConfig(train_images=8, val_images=2, image_size=32, crop=16, base_channels=4,
                       depth=2, norm="batch", batch_size=2, epochs=1, steps_per_epoch=2,
                       anneal=True)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A two-step tinyunet run (Adam, BatchNorm, annealed lr), exported for PyTorch."""
    root = tmp_path_factory.mktemp("ddp")
    train(TINY_RUN, root / "run", progress=False, figures=False)
    assert main(["export", "--torch", str(root / "run" / "last.safetensors"), str(root / "out"),
                 "--no-progress"]) == 0
    return root / "out"


def torchrun(*args):
    """torchrun, the console script beside this Python (or the module it runs)."""
    script = Path(sys.executable).with_name("torchrun")
    command = [str(script)] if script.exists() else [sys.executable, "-m",
                                                      "torch.distributed.run"]
    return command + list(args)


def test_torchrun_continues_the_run_on_two_processes_and_comes_back(torch, exported, tmp_path):
    done = subprocess.run(
        torchrun("--standalone", "--nproc-per-node=2", str(exported / "train_ddp.py"),
                 "--steps", "2", "--every-rank", "--log-every", "1"),
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = exported / "ddp"
    metrics = json.loads((ddp / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["steps"] == 2 and metrics["step"] == 4
    assert all(np.isfinite(metrics["losses"]))

    # DDP averaged the gradients: both processes hold the same weights, and they moved
    start = io.load(exported / "model.safetensors")
    ranks = [io.load(ddp / f"rank{r}.safetensors") for r in (0, 1)]
    weights = [k for k in start if not k.endswith(("running_mean", "running_var",
                                                   "num_batches_tracked"))]
    for key in weights:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
    assert any(not np.array_equal(ranks[0][k], start[k]) for k in weights)
    # (BatchNorm's running statistics are each process's own batches' until DDP broadcasts
    # rank 0's at the next forward; the count agrees)
    key = "encoder.0.norm1.num_batches_tracked"
    assert int(ranks[0][key]) == int(ranks[1][key]) == int(start[key]) + 2

    optimizer = io.load(ddp / "optimizer.safetensors")
    assert float(optimizer["state.0.step"]) == 4.0

    back = tmp_path / "back.safetensors"
    assert main(["import", "--torch", str(ddp / "model.safetensors"), "--arch",
                 str(ddp / "arch.json"), "--optimizer", str(ddp / "optimizer.safetensors"),
                 str(back)]) == 0
    model = load_model(back)
    net = load_module(exported / "model.py").load(ddp / "model.safetensors").eval()
    x = np.random.default_rng(0).random((1, 1, 32, 32), dtype=np.float32)
    with tu.no_grad(), torch.no_grad():
        np.testing.assert_allclose(model(tu.Tensor(x)).data, net(torch.from_numpy(x)).numpy(),
                                   rtol=1e-4, atol=1e-5)
    assert io.load(back)["optimizer"]["state"][0]["step"] == 4

    Image.fromarray((x[0, 0] * 255).astype(np.uint8)).save(tmp_path / "cells.png")
    assert main(["predict", "--checkpoint", str(back), str(tmp_path / "cells.png"),
                 "--out", str(tmp_path / "pred")]) == 0
    mask = np.asarray(Image.open(tmp_path / "pred" / "cells_mask.png"))
    assert mask.shape == (32, 32)


def test_the_scripts_losses_are_tinyunets(torch, exported, monkeypatch):
    """Every loss a run can train with, in float64: values to 1e-12, gradients to 1e-10; the
    weighted ones with a weight map as the U-Net paper's (positive, peaked)."""
    from tinyunet.interop.settings import SCRIPT_VALUES
    from tinyunet.train.config import LOSSES

    monkeypatch.setitem(sys.modules, "model", load_module(exported / "model.py"))
    script = load_module(exported / "train_ddp.py")
    assert set(script.LOSSES) == set(LOSSES) == set(SCRIPT_VALUES["loss"])
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 5, 4))
    target = rng.integers(0, 3, (2, 5, 4))
    weight = 1 + 10 * rng.random((2, 5, 4)) ** 4
    for name, loss in LOSSES.items():
        extra = (weight,) if name in script.WEIGHTED else ()
        z = tu.Tensor(logits, requires_grad=True)
        zt = torch.tensor(logits, requires_grad=True)
        value = loss(z, target, *extra)
        value_t = script.LOSSES[name](zt, torch.from_numpy(target),
                                      *map(torch.from_numpy, extra))
        value.backward()
        value_t.backward()
        np.testing.assert_allclose(value_t.item(), value.item(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(zt.grad.numpy(), z.grad, rtol=1e-10, atol=1e-14,
                                   err_msg=name)
    # the weight map matters: uniform weights give the plain cross-entropy, this one does not
    zt = torch.tensor(logits)
    plain = script.LOSSES["ce"](zt, torch.from_numpy(target)).item()
    assert script.weighted_ce(zt, torch.from_numpy(target),
                              torch.full((2, 5, 4), 3.0, dtype=torch.float64)).item() \
        == pytest.approx(plain, rel=1e-12)
    assert script.weighted_ce(zt, torch.from_numpy(target), torch.from_numpy(weight)).item() \
        != pytest.approx(plain, rel=1e-3)


def test_the_scripts_data_are_the_runs(exported):
    from tinyunet.train.config import make_datasets

    train_set, val_set = make_datasets(TINY_RUN)
    for split, items in (("train", train_set), ("val", val_set)):
        with np.load(exported / "data" / f"{split}.npz") as f:
            assert len(f.files) == 2 * len(items) + (split == "train")   # and `repeats`
            for i, (image, mask, *_) in enumerate(items):   # (instance labels follow)
                np.testing.assert_array_equal(f[f"image_{i:05d}"], image)
                np.testing.assert_array_equal(f[f"mask_{i:05d}"], mask)
