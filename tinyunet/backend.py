"""Which array module and which kernel set.

Two independent choices live here:

* the *array module*: NumPy on the CPU, CuPy on a GPU. Code asks ``xp = get_array_module(a)``
  for math on tensor data, so the same line runs on both; a tensor's device is simply where
  its array lives.
* the *kernel set*: ``reference`` (readable loops) or ``numba`` (fast), chosen with the
  environment variable ``TINYUNET_KERNELS`` or ``tinyunet.set_kernels(name)``; default ``numba``
  (``reference`` in a course repository, which leaves the instructor's fast kernels out).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from contextlib import contextmanager
from types import ModuleType

import numpy as np

KERNEL_SETS = {
    "reference": "tinyunet.kernels.reference",
    "numba": "tinyunet.kernels.numba_cpu",
}

GPU_KERNELS = "tinyunet.kernels.cuda"

_selected: str | None = None


def is_gpu_array(array) -> bool:
    """True for a CuPy array (checked by type, so CuPy is never imported just to ask)."""
    return type(array).__module__.startswith("cupy")


def get_array_module(*arrays) -> ModuleType:
    """Return ``cupy`` if any argument (array or Tensor) lives on the GPU, else ``numpy``."""
    for a in arrays:
        if is_gpu_array(getattr(a, "data", a)):
            import cupy

            return cupy
    return np


def device_of(array) -> str:
    """``'cuda'`` for a CuPy array, ``'cpu'`` for anything else."""
    return "cuda" if is_gpu_array(array) else "cpu"


def normalize_device(device) -> str:
    """``None``/``'cpu'`` -> ``'cpu'``; ``'cuda'``/``'cuda:0'``/``'gpu'`` -> ``'cuda'``."""
    name = "cpu" if device is None else str(device).split(":")[0].lower()
    if name == "gpu":
        name = "cuda"
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid choices are 'cpu' and 'cuda'")
    return name


def cupy_or_explain() -> ModuleType:
    """Import CuPy for a 'cuda' request, or say exactly what is missing."""
    try:
        import cupy
    except ImportError:
        raise RuntimeError(
            "device 'cuda' needs CuPy, which is not installed: pip install 'tinyunet[gpu]' "
            "(CuPy for CUDA 12)"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001  (CuPy raises its own CUDARuntimeError without a driver)
        count = 0
    if count == 0:
        raise RuntimeError("device 'cuda' was requested but no CUDA device was found")
    return cupy


def to_device(array, device: str):
    """Copy ``array`` to ``device`` (a no-op when it is already there)."""
    device = normalize_device(device)
    if device == device_of(array):
        return array
    if device == "cpu":
        return array.get()
    return cupy_or_explain().asarray(array)


def _check_name(name: str) -> str:
    if name not in KERNEL_SETS:
        valid = ", ".join(repr(k) for k in KERNEL_SETS)
        raise ValueError(f"unknown kernel set {name!r}; valid choices are {valid}")
    if importlib.util.find_spec(KERNEL_SETS[name]) is None:
        raise ValueError(f"the {name!r} kernel set is not part of this repository (a course "
                         "build leaves the instructor's fast kernels out); use 'reference'")
    return name


def _default() -> str:
    """``numba``, or ``reference`` where the fast kernels were left out (a course build)."""
    return "numba" if importlib.util.find_spec(KERNEL_SETS["numba"]) else "reference"


def get_kernel_name() -> str:
    """The selected kernel set's name: ``'reference'`` or ``'numba'``."""
    global _selected
    if _selected is None:
        env = os.environ.get("TINYUNET_KERNELS", "").strip() or _default()
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


def kernels(*arrays) -> ModuleType:
    """The kernel module for these arrays: the GPU set when any lives on the GPU, otherwise the
    selected CPU set (imported on first use, compiled on first call)."""
    if any(is_gpu_array(a) for a in arrays):
        return importlib.import_module(GPU_KERNELS)
    return importlib.import_module(KERNEL_SETS[get_kernel_name()])
