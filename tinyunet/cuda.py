"""``tu.cuda.is_available()``: is there a GPU tinyunet can use (CuPy installed, a device found)?

Importing tinyunet never imports CuPy; this module asks only when called.
"""

from __future__ import annotations

from .backend import cupy_or_explain


def is_available() -> bool:
    try:
        cupy_or_explain()
    except RuntimeError:
        return False
    return True


def device_count() -> int:
    try:
        return int(cupy_or_explain().cuda.runtime.getDeviceCount())
    except RuntimeError:
        return 0
