"""The two sides' checkpoints, and the translation between them.

The weights need no translation: a tinyunet ``state_dict`` already has PyTorch's key names
and layouts (conv weights (C_out, C_in, kH, kW), BatchNorm's ``running_mean``,
``running_var`` and an int64 ``num_batches_tracked``). What differs is the packaging:

* a tinyunet training checkpoint is one safetensors file holding the weights, the optimizer
  state, the configs and the run's position (:mod:`tinyunet.io`); PyTorch keeps the
  ``state_dict`` and the optimizer's ``state_dict`` apart, and wants the architecture said
  separately (here: JSON);
* an optimizer's state is keyed by parameter *index* on both sides, PyTorch's ``step`` is a
  float32 scalar tensor where tinyunet's is an int, and PyTorch's ``param_groups`` carry a few
  keys tinyunet has no use for (``foreach``, ``fused``, ...). The exported state also names
  each index's parameter, so it lands on the right tensor however a model orders them.
"""

from __future__ import annotations

import json

import numpy as np

from .. import io
from .. import models as tu_models
from ..optim import SGD, Adam, AdamW

OPTIMIZERS = {"Adam": Adam, "AdamW": AdamW, "SGD": SGD}
# param_groups entries PyTorch's optimizers have and tinyunet's don't (all at their defaults)
TORCH_ONLY = {"Adam": {"foreach": None, "capturable": False, "differentiable": False,
                       "fused": None},
              "SGD": {"foreach": None, "differentiable": False, "fused": None}}
TORCH_ONLY["AdamW"] = TORCH_ONLY["Adam"]


def read_checkpoint(path) -> dict:
    """A tinyunet checkpoint, whichever command wrote it, as ``{"model_class",
    "model_config", "model" (the state_dict), "optimizer" (or None), "train_config" (or None),
    "run": {"step", "epoch", "base_lrs"}}``.

    Training checkpoints (``tinyunet train``/``demo``) carry everything; ``tinyunet diffuse``
    writes the weights and config of a DiffusionUNet.
    """
    state = io.load(path)
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path} is not a tinyunet checkpoint: it has no 'model' weights")
    if "model_config" in state:
        name, config = state.get("model_class") or "UNet", state["model_config"]
    elif "config" in state and "ddpm" in state:  # tinyunet diffuse
        name, config = "DiffusionUNet", state["config"]
    else:
        raise ValueError(f"{path} does not say which model it holds (no 'model_config')")
    run = {key: state[key] for key in ("step", "epoch", "base_lrs") if key in state}
    return {"model_class": name, "model_config": _jsonable(config), "model": state["model"],
            "optimizer": state.get("optimizer"), "train_config": state.get("train_config"),
            "run": run}


def build_model(model_class: str, model_config: dict):
    """``tinyunet.models.<model_class>(**model_config)``, or an error that lists the models."""
    cls = getattr(tu_models, model_class, None)
    if not isinstance(cls, type):
        known = sorted(n for n in tu_models.__all__ if isinstance(getattr(tu_models, n), type))
        raise ValueError(f"unknown model class {model_class!r}; tinyunet has {known}")
    return cls(**model_config)


def check_state(state: dict, model, source: str = "the state_dict") -> None:
    """Raise a ValueError naming every missing, unexpected and mis-shaped key (with both
    shapes) before anything is loaded."""
    own = model.state_dict()
    describe = f"{type(model).__name__}({_call_args(model.config)})"
    errors = [f"missing key {k!r}: {describe} has it, shape {tuple(v.shape)}"
              for k, v in own.items() if k not in state]
    errors += [f"unexpected key {k!r}, shape {tuple(np.shape(v))}: {describe} has no such "
               f"parameter or buffer" for k, v in state.items() if k not in own]
    errors += [f"shape mismatch for {k!r}: {tuple(np.shape(v))} in {source}, "
               f"{tuple(own[k].shape)} in {describe}"
               for k, v in state.items() if k in own and tuple(np.shape(v)) != own[k].shape]
    if errors:
        raise ValueError(f"{source} does not fit {type(model).__name__}:\n  "
                         + "\n  ".join(errors))


def strip_prefix(state: dict) -> dict:
    """DistributedDataParallel's ``state_dict`` prefixes every key with ``module.``."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


# ----- the optimizer ----------------------------------------------------------------------------
def optimizer_class(state_dict: dict) -> str:
    """'Adam', 'AdamW' or 'SGD', read from a tinyunet optimizer's hyper-parameters."""
    group = state_dict["param_groups"][0]
    if "betas" in group:
        return "AdamW" if group.get("decoupled_weight_decay") else "Adam"
    if "momentum" in group:
        return "SGD"
    raise ValueError(f"an optimizer with hyper-parameters {sorted(group)} has no PyTorch "
                     f"export; Adam, AdamW and SGD do")


def optimizer_to_torch(state_dict: dict, param_names: list[str]) -> tuple[dict, dict]:
    """(tensors, metadata) of ``optimizer.safetensors`` for a tinyunet optimizer state_dict
    whose parameter ``i`` is named ``param_names[i]``."""
    name = optimizer_class(state_dict)
    counted = sum(len(group["params"]) for group in state_dict["param_groups"])
    if counted != len(param_names):
        raise ValueError(f"the optimizer holds {counted} parameters but the model has "
                         f"{len(param_names)}; was it built over model.parameters()?")
    tensors = {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            value = np.asarray(value)
            if key == "step":  # PyTorch keeps the step count as a float32 scalar tensor
                value = value.astype(np.float32)
            tensors[f"state.{int(index)}.{key}"] = np.asarray(value, order="C")  # 0-d stays 0-d
    groups = [{**TORCH_ONLY[name], **group, "params": [int(i) for i in group["params"]]}
              for group in state_dict["param_groups"]]
    metadata = {"format": "pt", "optimizer": name, "param_names": json.dumps(param_names),
                "param_groups": json.dumps(_jsonable(groups))}
    return tensors, metadata


def optimizer_from_torch(tensors: dict, metadata: dict, model) -> dict:
    """The tinyunet optimizer state_dict (indices in ``model.parameters()`` order) of an
    ``optimizer.safetensors``, checked against ``model``'s parameter shapes."""
    name = metadata.get("optimizer")
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r}: only {sorted(OPTIMIZERS)} can be imported")
    names = json.loads(metadata["param_names"])
    saved_groups = json.loads(metadata["param_groups"])
    params = dict(model.named_parameters())
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(f"the optimizer state names parameters {unknown} that "
                         f"{type(model).__name__} does not have")
    position = {n: k for k, n in enumerate(params)}
    # every group's parameters in the model's order, numbered across groups as PyTorch does
    members = [sorted((names[i] for i in group["params"]), key=position.__getitem__)
               for group in saved_groups]
    index = {n: j for j, n in enumerate(n for group in members for n in group)}
    state = {}
    for key, value in tensors.items():
        _, i, entry = key.split(".", 2)
        value = np.asarray(value)
        state.setdefault(index[names[int(i)]], {})[entry] = (
            int(round(value.item())) if entry == "step" else value)
    cls = OPTIMIZERS[name]
    optimizer = cls([{"params": [params[n] for n in group]} for group in members])
    keep = set(optimizer.defaults) | {"initial_lr"}
    groups = [{**{k: v for k, v in group.items() if k in keep}, "params": [index[n] for n in m]}
              for group, m in zip(saved_groups, members)]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return optimizer.state_dict()


def _jsonable(value):
    """Tuples as lists, NumPy scalars as numbers: what JSON (and PyTorch's side) reads back."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _call_args(config: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in config.items())
