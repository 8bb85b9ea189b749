"""tinyunet: a from-scratch deep-learning framework in NumPy and numba, built to teach the
U-Net from the inside.

    import tinyunet as tu
    import tinyunet.functional as F
    import tinyunet.nn as nn

The names, argument orders and weight layouts follow PyTorch, so code ports by changing the
import. Start reading at ``tensor.py`` (the Tensor), ``function.py`` (how an op is written)
and ``autograd.py`` (the engine); the U-Net lives in ``models/unet.py``.

The modules are layered like the rungs of the course (``tensor`` -> the elementwise ops ->
broadcasting and reductions -> the engine -> convolution -> ... -> models -> training), and
arrows point down only: ``import tinyunet.tensor`` loads the engine's rung and nothing above
it. So this file imports nothing but the thread and memory settings eagerly; every name below
is loaded from its module the first time it is used (PEP 562's module ``__getattr__``).
"""

from . import threads  # noqa: F401, I001  (first: thread settings precede numpy and numba)
from . import memory  # noqa: F401, I001  (malloc keeps freed arrays' pages: see memory.py)

import importlib

# Two names are also module names (``tinyunet.tensor``, ``tinyunet.gradcheck``): bind the
# functions now, so that a later import of the module cannot replace them. Both live on the
# bottom rung, so this loads nothing above it.
from .tensor import Tensor  # noqa: E402
from .factory import tensor  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402

__version__ = "0.1.0"

# name -> the module that defines it (relative to this package)
_NAMES = {
    "Function": "function", "Context": "function",
    "no_grad": "grad_mode", "enable_grad": "grad_mode", "is_grad_enabled": "grad_mode",
    "get_array_module": "backend", "set_kernels": "backend", "get_kernel_name": "backend",
    "use_kernels": "backend",
    "gradcheck_report": "gradcheck", "GradcheckError": "gradcheck",
    "manual_seed": "random",
    "zeros": "factory", "ones": "factory", "zeros_like": "factory",
    "ones_like": "factory", "rand": "factory", "randn": "factory", "arange": "factory",
    "cat": "ops.concat", "stack": "ops.concat",
    "save": "io", "load": "io",
}
# subpackages and modules reachable as attributes: tu.nn, tu.functional, ...
_MODULES = ("cuda", "functional", "metrics", "nn", "optim", "models", "data")

__all__ = ["Tensor", "tensor", "gradcheck", *_NAMES, *_MODULES]


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'tinyunet' has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
