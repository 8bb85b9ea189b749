"""Optimizers, as ``torch.optim``: SGD (momentum, dampening, Nesterov, weight decay), Adam,
AdamW. Schedulers are in ``tinyunet.lr_scheduler``.

The training loop is PyTorch's::

    optimizer = tu.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for x, y in batches:
        optimizer.zero_grad()          # gradients accumulate, so clear last step's first
        loss_fn(model(x), y).backward()
        optimizer.step()               # p <- p - lr * (direction computed from p.grad)

Each update reads ``p.grad`` and changes ``p.data`` in place (the Parameter objects, which the
model holds, stay the same). Per-parameter state (momentum buffers, Adam's moments) lives in
``optimizer.state[p]``; ``state_dict()`` returns it as plain arrays and numbers, with
parameters numbered in order, so a checkpoint can resume training exactly.
"""

from __future__ import annotations

import math

import numpy as np

from .autograd import enable_grad
from .tensor import Tensor


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


class SGD(Optimizer):
    """Stochastic gradient descent, exactly as ``torch.optim.SGD``::

        g = grad + weight_decay * p                     (L2 penalty folded into the gradient)
        b = g                          on the first step
        b = momentum * b + (1 - dampening) * g          afterwards (the momentum buffer)
        g = g + momentum * b  if nesterov  else  b      (Nesterov looks one step ahead)
        p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr ({lr}), momentum ({momentum}) and weight_decay "
                             f"({weight_decay}) must be non-negative")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum and zero dampening, "
                             f"got momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p, grad, state, group):
        g = grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


class Adam(Optimizer):
    """Adam, exactly as ``torch.optim.Adam``: per-parameter step sizes from running moments::

        g = grad + weight_decay * p                 (L2; AdamW decays p directly instead)
        m = beta1 m + (1 - beta1) g                 (mean of the gradient)
        v = beta2 v + (1 - beta2) g^2               (mean of its square)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)   (undo the bias of m = v = 0)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    With ``amsgrad`` the denominator uses the largest v seen so far.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: lr ({lr}), eps ({eps}) and weight_decay "
                             f"({weight_decay}) must be non-negative")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        g = grad
        if wd and group["decoupled_weight_decay"]:
            p.data *= 1 - lr * wd  # AdamW: shrink the weights, outside the moments
        elif wd:
            g = g + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + group["eps"]
        p.data -= (lr / (1 - beta1**t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    ``p = p - lr * weight_decay * p`` before the Adam step, instead of adding
    ``weight_decay * p`` to the gradient (which Adam's scaling would distort)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


# ``optim.lr_scheduler.StepLR`` as in PyTorch (imported last: it needs Optimizer from here)
from . import lr_scheduler  # noqa: E402, F401
