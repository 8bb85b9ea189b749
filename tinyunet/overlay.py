"""A mask drawn over its image: each foreground class tinted in its own colour, and each
object's outline when instance labels are given, as an RGB uint8 array (no matplotlib;
``tinyunet predict --overlay`` writes it with Pillow, and the prediction figures show it)."""

from __future__ import annotations

import numpy as np

# one colour per foreground class (class 0, the background, stays uncoloured)
CLASS_COLOURS = np.array([(0, 0, 0), (255, 64, 64), (64, 200, 255), (255, 210, 0),
                          (120, 255, 120), (200, 100, 255)], dtype=np.float32)
OUTLINE_COLOUR = np.array((255, 255, 0), dtype=np.float32)     # yellow: seen on red and grey


def overlay(image, mask, alpha: float = 0.45, instances=None) -> np.ndarray:
    """``(H, W, 3)`` uint8: the grey (or RGB) image with each foreground class tinted.

    ``image`` is ``(H, W)``, ``(1, H, W)`` or ``(3, H, W)`` in [0, 1]; ``mask`` ``(H, W)`` class
    indices. A pixel of class c > 0 becomes ``(1 - alpha) * pixel + alpha * colour_c``.
    ``instances``: ``(H, W)`` instance labels; each object's outline (its pixels with a
    4-neighbour outside it) is drawn in solid yellow, so touching objects show as two.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    rgb = np.clip(rgb, 0.0, 1.0) * 255.0
    mask = np.asarray(mask)
    if rgb.shape[:2] != mask.shape:
        raise ValueError(f"overlay: image {rgb.shape[:2]} and mask {mask.shape} differ in size")
    colours = CLASS_COLOURS[np.minimum(mask, len(CLASS_COLOURS) - 1)]
    tinted = np.where((mask > 0)[..., None], (1 - alpha) * rgb + alpha * colours, rgb)
    if instances is not None:
        from .instances import outlines

        if np.shape(instances) != mask.shape:
            raise ValueError(f"overlay: instances {np.shape(instances)} and mask {mask.shape} "
                             f"differ in size")
        tinted[outlines(instances)] = OUTLINE_COLOUR
    return tinted.round().astype(np.uint8)
