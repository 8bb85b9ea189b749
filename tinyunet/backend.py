"""Which array module and which kernel set.

Two independent choices live here:

* the *array module*: NumPy on the CPU, CuPy on a GPU. Code never imports numpy directly for
  math on tensor data; it asks ``xp = get_array_module(a)`` so the same line runs on both.
* the *kernel set*: ``reference`` (readable loops) or ``numba`` (fast), chosen with the
  environment variable ``TINYUNET_KERNELS`` or ``tinyunet.set_kernels(name)``; default ``numba``.
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from types import ModuleType

import numpy as np

KERNEL_SETS = {
    "reference": "tinyunet.kernels.reference",
    "numba": "tinyunet.kernels.numba_cpu",
}

_selected: str | None = None


def get_array_module(*arrays) -> ModuleType:
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    for a in arrays:
        data = getattr(a, "data", a)
        if type(data).__module__.startswith("cupy"):
            import cupy

            return cupy
    return np


def _check_name(name: str) -> str:
    if name not in KERNEL_SETS:
        valid = ", ".join(repr(k) for k in KERNEL_SETS)
        raise ValueError(f"unknown kernel set {name!r}; valid choices are {valid}")
    return name


def get_kernel_name() -> str:
    """The selected kernel set's name: ``'reference'`` or ``'numba'``."""
    global _selected
    if _selected is None:
        env = os.environ.get("TINYUNET_KERNELS", "numba").strip() or "numba"
        try:
            _selected = _check_name(env)
        except ValueError as err:
            raise ValueError(f"TINYUNET_KERNELS: {err}") from None
    return _selected


def set_kernels(name: str) -> None:
    """Select the kernel set used by every op from now on: ``'reference'`` or ``'numba'``."""
    global _selected
    _selected = _check_name(name)


@contextmanager
def use_kernels(name: str):
    """Temporarily select a kernel set: ``with use_kernels('reference'): ...``."""
    global _selected
    previous = get_kernel_name()
    set_kernels(name)
    try:
        yield
    finally:
        _selected = previous


def kernels() -> ModuleType:
    """The module of the selected kernel set (imported on first use, compiled on first call)."""
    return importlib.import_module(KERNEL_SETS[get_kernel_name()])
