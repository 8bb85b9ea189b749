"""From stored pixel values to the network's input: intensity normalisation.

A 16-bit micrograph may use 0..4000 of its 0..65535, the next one 200..60000, and one
saturated nucleus can be ten times brighter than the rest. Dividing by the bit depth's
maximum (``"bitdepth"``) keeps all of that; the field's answer is a per-image percentile
scaling (``"percentile"``, the default, as CSBDeep, StarDist and Cellpose do)::

    x' = (x - P_low) / (P_high - P_low)        P_q = the q-th percentile of the image

with ``low = 1`` and ``high = 99.8``: the darkest 1 % of pixels fall below 0, the brightest
0.2 % above 1, and nothing is clipped, so a saturated nucleus is merely bright, not the unit
that everything else is measured in. Each channel of each image is scaled on its own.

The method and its percentiles are training settings (:class:`~tinyunet.train.TrainConfig`),
saved in the checkpoint, so ``tinyunet predict`` scales new images exactly as training did.
"""

from __future__ import annotations

import numpy as np

METHODS = ("percentile", "bitdepth", "none")
EPS = 1e-20


def percentile_normalize(image, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """``(x - P_low) / (P_high - P_low)`` per channel of an image ``(..., H, W)``, float32.

    A flat channel (``P_high == P_low``) becomes all zeros instead of a division by zero.
    """
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"percentile_normalize: need 0 <= low < high <= 100, got low={low}, "
                         f"high={high}")
    x = np.asarray(image, dtype=np.float64)
    p_low, p_high = np.percentile(x, [low, high], axis=(-2, -1), keepdims=True)
    scale = p_high - p_low
    out = np.where(scale > EPS, (x - p_low) / np.maximum(scale, EPS), 0.0)
    return out.astype(np.float32)


def bitdepth_normalize(image) -> np.ndarray:
    """Integers divided by their dtype's largest value (255, 65535, ...) into [0, 1]; floats
    as they are. The old PNG behaviour: no image is scaled by what it contains."""
    image = np.asarray(image)
    if image.dtype.kind in "ui":
        return (image / np.iinfo(image.dtype).max).astype(np.float32)
    return image.astype(np.float32)


def normalize(image, method: str = "percentile", low: float = 1.0,
              high: float = 99.8) -> np.ndarray:
    """``image`` (raw values, ``(..., H, W)``) as float32 network input, by ``method``."""
    if method == "percentile":
        return percentile_normalize(image, low, high)
    if method == "bitdepth":
        return bitdepth_normalize(image)
    if method == "none":
        return np.asarray(image, dtype=np.float32)
    raise ValueError(f"normalize: unknown method {method!r}; choose from {METHODS}")
