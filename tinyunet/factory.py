"""Tensor constructors with PyTorch's names: ``tu.zeros(2, 3)``, ``tu.randn(8, 1, 64, 64)``.

Random ones draw from the global generator that ``tu.manual_seed`` seeds."""

from __future__ import annotations

import numpy as np

from .random import generator
from .tensor import Tensor


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(np.array(data.data if isinstance(data, Tensor) else data, dtype=dtype),
                  requires_grad=requires_grad)


def zeros(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def zeros_like(x, requires_grad=False) -> Tensor:
    return Tensor(np.zeros_like(getattr(x, "data", x)), requires_grad=requires_grad)


def ones_like(x, requires_grad=False) -> Tensor:
    return Tensor(np.ones_like(getattr(x, "data", x)), requires_grad=requires_grad)


def randn(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    data = generator().standard_normal(_shape(size)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*size, dtype=np.float32, requires_grad=False) -> Tensor:
    """Uniform samples on [0, 1)."""
    data = generator().random(_shape(size)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None) -> Tensor:
    return Tensor(np.arange(start, end, step, dtype=dtype) if end is not None
                  else np.arange(start, dtype=dtype))
