"""Module and Parameter: how a network keeps track of its weights, as ``torch.nn.Module``.

A ``Parameter`` is a Tensor that requires grad and belongs to a layer. A ``Module`` is a
layer or a network of layers; assigning a Parameter or a Module to one of its attributes
*registers* it (``__setattr__`` below), in assignment order, so that

    model.parameters()           every weight, for the optimizer
    model.state_dict()           {"encoder.0.conv1.weight": array, ...}, for checkpoints
    model.train() / model.eval() reaches every sub-layer (BatchNorm, Dropout care)

work without any layer listing its contents by hand. Buffers (``register_buffer``) are state
that is saved but not trained, such as BatchNorm's running statistics. The dotted names of
``state_dict`` are PyTorch's, so a checkpoint's keys read the same in both frameworks (a
PyTorch ``state_dict`` even loads directly into the twin tinyunet model).
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import get_array_module, is_gpu_array, normalize_device, to_device
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module: ``requires_grad=True`` by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _to_numpy(value) -> np.ndarray:
    """A state_dict value as an ndarray: tinyunet Tensors, arrays, or PyTorch tensors."""
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    if is_gpu_array(value):  # a CuPy array
        return value.get()
    return np.asarray(value)


def _as_buffer(value):
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(value if is_gpu_array(value) else np.asarray(value))


def _is_device(target) -> bool:
    """Is ``.to``'s argument a device ('cpu', 'cuda', 'cuda:0') rather than a dtype?"""
    return isinstance(target, str) and target.split(":")[0] in ("cpu", "cuda", "gpu", "mps")


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return "\n".join(lines[:1] + [" " * spaces + line for line in lines[1:]])


class Module:
    """Base class of every layer and network: subclass, assign layers in ``__init__``
    (after ``super().__init__()``), and write ``forward``."""

    def __init__(self):
        # object.__setattr__: these must exist before our __setattr__ can register anything
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----- registration ---------------------------------------------------------------------
    def _registry(self, kind: str) -> dict:
        registry = self.__dict__.get(kind)
        if registry is None:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() in __init__ "
                                 f"before assigning parameters, buffers or sub-modules")
        return registry

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Parameter):
            self._forget(name, keep="_parameters")
            self._registry("_parameters")[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep="_modules")
            self._registry("_modules")[name] = value
        elif name in self.__dict__.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to parameter "
                                f"'{name}' of {type(self).__name__}: use a Parameter or None")
            self._parameters[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            self._buffers[name] = _as_buffer(value)
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to sub-module "
                                f"'{name}' of {type(self).__name__}: use a Module or None")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Remove ``name`` from every registry but ``keep`` (and from plain attributes)."""
        self.__dict__.pop(name, None)
        for kind in ("_parameters", "_buffers", "_modules"):
            if kind != keep:
                self.__dict__.get(kind, {}).pop(name, None)

    def __getattr__(self, name: str):
        # only called when ordinary lookup fails: look in the registries
        for kind in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__.get(kind)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for kind in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(kind, {}):
                del self.__dict__[kind][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None: a slot such as a disabled bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got "
                            f"{type(param).__name__}")
        self._forget(name, keep="_parameters")
        self._registry("_parameters")[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register state that is not trained (a Tensor, array or None) under ``name``.

        Persistent buffers appear in ``state_dict``; all buffers are cast by ``to``.
        """
        self._forget(name, keep="_buffers")
        self._registry("_buffers")[name] = _as_buffer(tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got "
                            f"{type(module).__name__}")
        self._forget(name, keep="_modules")
        self._registry("_modules")[name] = module

    # ----- traversal ------------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module and every descendant, each once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m)
                        for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))  # depth first, in registration order

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, kind: str, prefix: str, recurse: bool):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, kind).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))  # a weight shared by two layers is listed once
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant, children first, then on self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----- modes and gradients --------------------------------------------------------------
    def train(self, mode: bool = True):
        """Training mode (the default) for this module and every descendant."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode: BatchNorm uses running statistics, Dropout is the identity."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        """Freeze (False) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (gradients accumulate across backward calls)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    # ----- dtype and device -----------------------------------------------------------------
    def to(self, *args, device=None, dtype=None):
        """``to("cuda")``, ``to("cpu")``, ``to(np.float64)`` or ``to(device=..., dtype=...)``;
        in place.

        Moves every parameter and buffer (and any gradient) to ``device``, and casts the
        floating-point ones to ``dtype`` (integer buffers such as BatchNorm's
        ``num_batches_tracked`` stay integer). The Parameter objects are kept, so an
        optimizer built before the move still updates them. ``"cuda"`` needs CuPy and a GPU
        and says which one is missing.
        """
        for arg in args:
            if _is_device(arg):
                device = arg
            else:
                dtype = arg
        if device is not None:
            device = normalize_device(device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: only floating-point dtypes are allowed, got {dtype}")
        for module in self.modules():
            for t in list(module._parameters.values()) + list(module._buffers.values()):
                if t is None:
                    continue
                if device is not None:
                    t.data = to_device(t.data, device)
                    if t.grad is not None:
                        t.grad = to_device(t.grad, device)
                if dtype is not None and t.dtype.kind == "f":
                    t.data = t.data.astype(dtype)
                    if t.grad is not None:
                        t.grad = t.grad.astype(dtype)
        return self

    def cuda(self):
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # ----- checkpoints ----------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> dict:
        """{dotted name: array} of every parameter and persistent buffer, PyTorch's order
        (a module's own parameters, then its buffers, then its children's). Arrays are
        copies, so later training does not change a saved state; ``keep_vars=True`` gives
        the Tensors themselves."""
        out = OrderedDict() if destination is None else destination
        entries = list(self._parameters.items()) + [
            (k, b) for k, b in self._buffers.items() if k not in self._non_persistent_buffers]
        for name, t in entries:
            if t is not None:
                out[prefix + name] = t if keep_vars else t.numpy().copy()
        for name, child in self.named_children():
            child.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Keys are matched by name. Checked first, so nothing is half-loaded: a shape mismatch
        is always an error; with ``strict`` (the default) so are missing and unexpected keys.
        Values may be arrays, tinyunet Tensors or PyTorch tensors; they are cast to each
        parameter's dtype. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        arrays = {k: _to_numpy(v) for k, v in state_dict.items() if k in own}
        mismatched = [(k, a.shape, own[k].shape) for k, a in arrays.items()
                      if a.shape != own[k].shape]
        errors = []
        if strict and missing:
            errors.append("missing key(s): " + ", ".join(missing))
        if strict and unexpected:
            errors.append("unexpected key(s): " + ", ".join(unexpected))
        errors += [f"size mismatch for {k}: the checkpoint has shape {tuple(have)}, the model "
                   f"has shape {tuple(want)}" for k, have, want in mismatched]
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                               + "\n  ".join(errors))
        for k, a in arrays.items():
            own[k].data[...] = get_array_module(own[k].data).asarray(a)  # onto its device
        return IncompatibleKeys(missing, unexpected)

    # ----- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's hyper-parameters, printed inside its parentheses."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): {_addindent(repr(m), 2)}" for name, m in self._modules.items()]
        body = ""
        if len(extra) == 1 and not children:
            body = extra[0]
        elif extra or children:
            body = "\n  " + "\n  ".join(extra + children) + "\n"
        return f"{type(self).__name__}({body})"


def _empty(shape, device=None, dtype=None) -> np.ndarray:
    """Storage for a new layer's weights: float32 unless ``dtype`` says otherwise; layers take
    PyTorch's ``device=None, dtype=None`` keywords, and are created on the CPU."""
    if device is not None and normalize_device(device) != "cpu":
        raise NotImplementedError(f"device={device!r}: tinyunet layers are created on the CPU; "
                                  "build the model, then move it with model.to('cuda')")
    return np.zeros(shape, dtype=np.float32 if dtype is None else dtype)
