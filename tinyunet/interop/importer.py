"""``tinyunet import --torch``: a PyTorch ``state_dict`` (and optimizer) back into a tinyunet
checkpoint that ``tinyunet predict`` and :func:`tinyunet.predict.load_model` accept.

The state_dict may come from the exported ``model.py`` (``model.save``), from
``torch.save(model.state_dict(), ...)`` (``.pt``/``.pth``, read with ``weights_only=True``)
or from a DistributedDataParallel wrapper, whose keys all start with ``module.``. Nothing is
written unless every key is there with its shape; a mismatch names the key and both shapes.
The run's training settings in ``arch.json`` come back too, where ``predict`` reads them: it
scales new images as the run did (``normalize``, percentiles) and reads a ``three_class``
network's output as interiors and boundaries.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from .. import io
from .checkpoint import (
    build_model,
    check_state,
    optimizer_from_torch,
    strip_prefix,
)


def read_state_dict(path) -> dict:
    """``{key: ndarray}`` from a safetensors file, or from a PyTorch ``.pt``/``.pth`` file
    (which needs torch, and holds either the state_dict or a dict with one under
    ``"state_dict"`` or ``"model"``)."""
    path = Path(path)
    if path.suffix not in (".pt", ".pth", ".bin"):
        return safetensors.numpy.load_file(path)
    try:
        import torch
    except ImportError:
        raise ImportError(f"{path}: reading a torch.save file needs PyTorch; or save the "
                          f"state_dict with safetensors.torch.save_file instead") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k: v.detach().cpu().numpy() for k, v in state.items() if torch.is_tensor(v)}


def read_architecture(path) -> dict:
    """``{"model_class", "model_config", ...}`` from ``arch.json`` (or from the
    ``architecture`` metadata of an exported ``model.safetensors``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        with safetensors.safe_open(path, "np") as f:
            text = (f.metadata() or {}).get("architecture")
        if text is None:
            raise ValueError(f"{path} has no 'architecture' metadata; give the export's "
                             f"arch.json")
    else:
        text = path.read_text()
    architecture = json.loads(text)
    if not isinstance(architecture, dict) or "model_class" not in architecture:
        raise ValueError(f"{path}: an architecture is JSON with 'model_class' and "
                         f"'model_config', as the export's arch.json")
    return architecture


def import_torch(state_dict, arch, out, optimizer=None) -> Path:
    """Write the tinyunet checkpoint ``out`` from a PyTorch state_dict file, the
    architecture ``arch`` and, optionally, an exported-format ``optimizer.safetensors``."""
    architecture = read_architecture(arch)
    name, config = architecture["model_class"], architecture.get("model_config") or {}
    model = build_model(name, config)
    state = strip_prefix(read_state_dict(state_dict))
    check_state(state, model, str(state_dict))
    checkpoint = {"model": {k: np.asarray(state[k], order="C") for k in model.state_dict()},
                  "model_class": name, "model_config": config}
    for key in ("train_config", "run"):
        if architecture.get(key) is not None:
            checkpoint[key] = architecture[key]
    if optimizer is not None:
        with safetensors.safe_open(optimizer, "np") as f:
            metadata = f.metadata() or {}
        checkpoint["optimizer"] = optimizer_from_torch(
            safetensors.numpy.load_file(optimizer), metadata, model)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": "tinyunet checkpoint", "model_class": name,
                "model_config": json.dumps(config), "imported_from": str(state_dict)}
    if "train_config" in checkpoint:  # predict reads how images were scaled from here
        metadata["train_config"] = json.dumps(checkpoint["train_config"])
    io.save(checkpoint, out, metadata=metadata)
    return out
