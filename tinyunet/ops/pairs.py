"""PyTorch's ``int or (h, w)`` hyper-parameters, checked and normalised to ``(h, w)``."""

from __future__ import annotations

import numpy as np


def pair(op, name, value, minimum=None) -> tuple[int, int]:
    """An int or a pair of ints as an (h, w) pair, at least ``minimum``."""
    hw = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(hw) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in hw
    ):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    hw = (int(hw[0]), int(hw[1]))
    if minimum is not None and min(hw) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return hw
