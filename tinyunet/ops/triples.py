"""PyTorch's ``int or (d, h, w)`` hyper-parameters of the 3-D ops, checked and normalised.

The 3-D twin of ``pairs.py``: ``stride=2`` means ``(2, 2, 2)``; a triple names the depth,
height and width values in that order, as ``torch.nn.functional.conv3d`` reads them.
"""

from __future__ import annotations

import numpy as np


def triple(op, name, value, minimum=None) -> tuple[int, int, int]:
    """An int or a triple of ints as a (d, h, w) triple, each at least ``minimum``."""
    dhw = tuple(value) if isinstance(value, (tuple, list)) else (value,) * 3
    if len(dhw) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in dhw
    ):
        raise TypeError(f"{op}: {name} must be an int or a triple of ints, got {value!r}")
    dhw = tuple(int(v) for v in dhw)
    if minimum is not None and min(dhw) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return dhw
