"""The Optimizer base class: parameter groups, ``zero_grad``, ``step``, ``state_dict``."""

from __future__ import annotations

import numpy as np

from ..grad_mode import enable_grad
from ..tensor import Tensor


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``step``, ``state_dict``.

    ``params`` is an iterable of Parameters, or of dicts ``{"params": [...], "lr": ...}`` to
    give groups of parameters their own hyper-parameters (the others come from defaults).
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}  # Parameter -> {name: array or number}
        self.param_groups: list[dict] = []
        groups = [params] if isinstance(params, Tensor) else list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got "
                                f"{type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (None by default; zeros with set_to_none=False)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional)
        re-evaluates the model and returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grad = -p.grad if group.get("maximize") else p.grad
                    self._update(p, grad, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p, grad, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ----- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: {name: array or number}}, "param_groups": [{..., "params":
        [indices]}]}: parameters are numbered across groups in order, as in PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": [index[id(p)] for p in group["params"]]})
        state = {index[id(p)]: {k: np.array(v) if isinstance(v, np.ndarray) else v
                                for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore state and hyper-parameters saved by ``state_dict`` (copied; arrays cast to
        each parameter's dtype). The parameters must be the same, in the same groups."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved)} parameter groups, but the "
                             f"optimizer has {len(self.param_groups)}")
        params = {}
        for i, (group, saved_group) in enumerate(zip(self.param_groups, saved)):
            if len(group["params"]) != len(saved_group["params"]):
                raise ValueError(f"parameter group {i} of the loaded state dict has "
                                 f"{len(saved_group['params'])} parameters, but the "
                                 f"optimizer's has {len(group['params'])}")
            params.update(zip(saved_group["params"], group["params"]))
        self.state = {}
        for key, saved_state in state_dict["state"].items():
            p = params[int(key)]
            self.state[p] = {name: _restore(name, value, p) for name, value in saved_state.items()}
        for group, saved_group in zip(self.param_groups, saved):
            group.update({k: v for k, v in saved_group.items() if k != "params"})


def _restore(name, value, p):
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return value.item() if isinstance(value, np.ndarray) else value
    if value.shape != p.shape:
        raise ValueError(f"optimizer state '{name}' has shape {value.shape} but its "
                         f"parameter has shape {p.shape}")
    return value.astype(p.dtype, copy=True)
