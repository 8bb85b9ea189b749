"""Loading and saving the network and its optimizer: safetensors files, so loading one can
only produce tensors (never run code, as a pickle can).

``model.safetensors``      the ``state_dict``, PyTorch's keys and layouts (BatchNorm's
                           running statistics and ``num_batches_tracked`` included); its
                           metadata ``architecture`` names the class and its config.
``optimizer.safetensors``  the optimizer's ``state_dict``: tensors ``state.{i}.{name}``
                           (Adam's ``step``, ``exp_avg``, ``exp_avg_sq``; SGD's
                           ``momentum_buffer``) and, as JSON metadata, ``param_groups``, the
                           optimizer's class and ``param_names`` (parameter i's name, so the
                           state finds its parameter however the model orders them).
"""

import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

MODELS = {}  # {class name: the PyTorch class}; the export fills it in
ARCHITECTURE = {}  # {"model_class": ..., "model_config": {...}}; the export fills it in
OPTIMIZERS = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD}


def build(architecture=None):
    """The network, freshly initialised: ``MODELS[model_class](**model_config)``."""
    arch = architecture or ARCHITECTURE
    return MODELS[arch["model_class"]](**arch["model_config"])


def unwrap(model):
    """The network inside a DistributedDataParallel (or DataParallel) wrapper."""
    return getattr(model, "module", model)


def strip_prefix(state):
    """A state_dict saved from a DDP wrapper has every key prefixed with ``module.``."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def read_metadata(path):
    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}


def load(path="model.safetensors", device="cpu"):
    """The network with the weights and buffers of ``path``, in the file's float dtype; the
    architecture comes from the file's metadata (or, failing that, :data:`ARCHITECTURE`)."""
    metadata = read_metadata(path)
    arch = json.loads(metadata["architecture"]) if "architecture" in metadata else None
    state = strip_prefix(load_file(str(path)))
    model = build(arch)
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    model.to(floats[0] if floats else torch.float32)
    model.load_state_dict(state, strict=True)
    return model.to(device)


def save(model, path, architecture=None):
    """Write the network's state_dict (without a DDP prefix) and its architecture."""
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    arch = json.dumps(architecture or ARCHITECTURE)
    save_file(state, str(path), metadata={"format": "pt", "architecture": arch})


def load_optimizer(path, model):
    """The optimizer saved at ``path`` (its class, hyper-parameters and state), over the
    parameters of ``model``."""
    metadata = read_metadata(path)
    names = json.loads(metadata["param_names"])
    groups = json.loads(metadata["param_groups"])
    params = dict(unwrap(model).named_parameters())
    missing = [name for name in names if name not in params]
    if missing:
        raise KeyError(f"{path}: the model has no parameters named {missing}")
    optimizer = OPTIMIZERS[metadata["optimizer"]](
        [{"params": [params[names[i]] for i in group["params"]]} for group in groups])
    state = {}
    for key, value in load_file(str(path)).items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value.reshape(()) if name == "step" else value
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return optimizer


def save_optimizer(optimizer, model, path):
    """Write ``optimizer``'s state_dict, its parameters named as in ``model``."""
    names = {id(p): name for name, p in unwrap(model).named_parameters()}
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    saved = optimizer.state_dict()
    tensors = {f"state.{i}.{name}": torch.as_tensor(value).detach().cpu().contiguous()
               for i, entries in saved["state"].items() for name, value in entries.items()}
    metadata = {"format": "pt", "optimizer": type(optimizer).__name__,
                "param_names": json.dumps(order),
                "param_groups": json.dumps(saved["param_groups"])}
    save_file(tensors, str(path), metadata=metadata)
