"""``tinyunet export --torch``: a tinyunet checkpoint as a folder PyTorch can load, train
and scale out, with nothing from tinyunet needed on the other side::

    OUT/model.safetensors      the state_dict: PyTorch's keys and layouts; its metadata
                               holds the architecture (class name and config, JSON)
    OUT/arch.json              the same architecture, the training config and the run's
                               position (step, epoch, base learning rates)
    OUT/model.py               the network in plain PyTorch, with its loaders
    OUT/optimizer.safetensors  the optimizer in PyTorch's format (training checkpoints)
    OUT/train_ddp.py, OUT/data/  the training script for torchrun, and the run's data
                               (training checkpoints of a segmentation run)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import safetensors.numpy

from .checkpoint import build_model, check_state, optimizer_to_torch, read_checkpoint
from .data import write_training_data
from .settings import check_carried
from .source import SHIPPED, model_source


def export_torch(checkpoint, out, data: bool = True, progress: bool = True) -> dict[str, Path]:
    """Write the export folder ``out`` for ``checkpoint``; returns ``{what: path}``.

    ``data=False`` leaves out ``data/`` (``train_ddp.py --data DIR`` then reads it elsewhere).
    A run with a setting the script cannot carry is refused before anything is written
    (:mod:`tinyunet.interop.settings`).
    """
    ck = read_checkpoint(checkpoint)
    if ck["train_config"] is not None:
        check_carried(ck["train_config"], str(checkpoint))
    model = build_model(ck["model_class"], ck["model_config"])
    check_state(ck["model"], model, f"the weights in {checkpoint}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    architecture = {"model_class": ck["model_class"], "model_config": ck["model_config"]}
    written = {}

    written["model"] = out / "model.safetensors"
    state = {k: ck["model"][k] for k in model.state_dict()}  # the model's (PyTorch's) order
    safetensors.numpy.save_file(state, written["model"], metadata={
        "format": "pt", "architecture": json.dumps(architecture)})

    written["arch"] = out / "arch.json"
    written["arch"].write_text(json.dumps({**architecture, "train_config": ck["train_config"],
                                           "run": ck["run"]}, indent=2) + "\n")

    written["model.py"] = out / "model.py"
    written["model.py"].write_text(model_source(ck["model_class"], ck["model_config"]))

    if ck["optimizer"] is not None:
        names = [name for name, _ in model.named_parameters()]
        tensors, metadata = optimizer_to_torch(ck["optimizer"], names)
        written["optimizer"] = out / "optimizer.safetensors"
        safetensors.numpy.save_file(tensors, written["optimizer"], metadata=metadata)

    if ck["train_config"] is not None:  # a segmentation run: its script and its data
        written["train_ddp.py"] = out / "train_ddp.py"
        shutil.copyfile(SHIPPED / "train_ddp.py", written["train_ddp.py"])
        if data:
            for path in write_training_data(ck["train_config"], out / "data", progress):
                written[f"data/{path.name}"] = path
    return written
