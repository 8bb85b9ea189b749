"""tinyunet: a from-scratch deep-learning framework in NumPy and numba, built to teach the
U-Net from the inside.

    import tinyunet as tu
    import tinyunet.functional as F
    import tinyunet.nn as nn

The names, argument orders and weight layouts follow PyTorch, so code ports by changing the
import. Start reading at ``tensor.py`` (the Tensor), ``autograd.py`` (the engine) and
``function.py`` (how an op is written); the U-Net lives in ``models/unet.py``.
"""

from . import threads  # noqa: F401, I001  (first: thread settings precede numpy and numba)
from . import memory  # noqa: F401, I001  (malloc keeps freed arrays' pages: see memory.py)
from .tensor import Tensor  # noqa: I001  (Tensor first: the ops import it)
from .autograd import enable_grad, is_grad_enabled, no_grad
from .backend import get_array_module, get_kernel_name, set_kernels, use_kernels
from .function import Context, Function
from .gradcheck import GradcheckError, gradcheck, gradcheck_report
from .random import manual_seed
from .factory import arange, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .ops.concat import cat, stack
from .io import load, save
# the submodules build on Tensor, so they come after it
from . import cuda, functional, lr_scheduler, metrics, nn, optim  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "Context", "no_grad", "enable_grad", "is_grad_enabled",
    "get_array_module", "set_kernels", "get_kernel_name", "use_kernels",
    "gradcheck", "gradcheck_report", "GradcheckError", "manual_seed",
    "cat", "stack", "save", "load", "cuda", "functional", "lr_scheduler", "metrics", "nn", "optim",
    "tensor", "zeros", "ones", "zeros_like", "ones_like", "rand", "randn", "arange",
]
