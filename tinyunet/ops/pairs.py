"""What the spatial ops share before their math: PyTorch's ``int or (h, w)`` hyper-parameters
checked and normalised to ``(h, w)``, and PyTorch's optional batch dimension."""

from __future__ import annotations

import numpy as np


def pair(op, name, value, minimum=None) -> tuple[int, int]:
    """An int or a pair of ints as an (h, w) pair, at least ``minimum``."""
    hw = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(hw) == 1:  # torch reads a one-element list as that value for both axes
        hw = hw * 2
    if len(hw) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in hw
    ):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    hw = (int(hw[0]), int(hw[1]))
    if minimum is not None and min(hw) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return hw


def batched(op, x, layout="(N, C, H, W)"):
    """``(x as (N, C, H, W), unbatched)``: a (C, H, W) input, which torch takes as one sample,
    gets a batch dimension of 1 (``unbatched`` says to drop it again from the result)."""
    if x.ndim == 3:
        return x.unsqueeze(0), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D (unbatched) or 4-D input {layout}, got shape "
                         f"{x.shape}")
    return x, False
