"""From an annotated mask to what training needs: classes, instances, separated objects.

Annotated nuclei come in two kinds of mask, and both are read from the same files:

* a **class mask** holds class indices ``0..C-1`` (a binary one may be saved as 0/255 or
  0/65535);
* an **instance label image** gives each object its own integer ``1..K`` (0 is background),
  so two touching nuclei stay two. Most annotated nuclei data looks like this.

With two classes, any mask whose values are not 0/1 (or 0/255, 0/65535) is read as instance
labels. From instance labels come the targets (:func:`foreground`, :func:`separated` and
:func:`three_class`) and the U-Net paper's weight map; from a class mask, the instances are its
connected components (:func:`components`), which is all a binary mask can tell.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

TARGETS = ("classes", "three_class")
BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2


def mask_kind(values, num_classes: int = 2) -> tuple[str, int | None]:
    """How to read a mask with these (unique, sorted) values: ``("classes", None)``,
    ``("binary", on)`` for a 0/on mask, or ``("instances", None)``; raises on a mask that
    is none of them (its message names the values, the caller adds the file)."""
    values = np.asarray(values)
    if values.size and values.min() < 0:
        raise ValueError(f"has negative values ({values.min()}); masks hold class indices "
                         f"0..{num_classes - 1} or instance labels 0..K")
    if np.isin(values, np.arange(num_classes)).all():
        return "classes", None
    for on in (255, 65535):
        if np.isin(values, (0, on)).all():
            return "binary", on
    if num_classes == 2:
        return "instances", None
    bad = values[~np.isin(values, np.arange(num_classes))]
    raise ValueError(f"has unexpected values {_shorten(bad)} (all its values: "
                     f"{_shorten(values)}); expected class indices 0..{num_classes - 1} "
                     f"(num_classes={num_classes}) or a binary 0/255 mask")


def components(mask) -> np.ndarray:
    """Instance labels of a binary mask: its 4-connected components, numbered 1..K in
    row-major order of their first pixel (``scipy.ndimage.label``; the hand-written sweep
    that teaches it is :func:`tinyunet.data.weights.label_components`)."""
    labels, _ = ndimage.label(np.asarray(mask) > 0)
    return labels.astype(np.int32)


def instances_of(mask, kind: str) -> np.ndarray:
    """Instance labels ``(H, W)`` int32 from a mask read as ``kind`` (see :func:`mask_kind`)."""
    mask = np.asarray(mask)
    if kind == "instances":
        return mask.astype(np.int32)
    return components(mask)


def boundary(labels: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour of a different label (background or another object):
    a one-pixel rim round each object, two pixels where objects touch. Image edges don't
    count."""
    p = np.pad(labels, 1, mode="edge")
    c = p[1:-1, 1:-1]
    differs = ((p[:-2, 1:-1] != c) | (p[2:, 1:-1] != c)
               | (p[1:-1, :-2] != c) | (p[1:-1, 2:] != c))
    return differs & (labels > 0)


def contact(labels: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour in another object: a line two pixels wide where two
    objects touch (one from each side), empty where none touch."""
    p = np.pad(labels, 1, mode="constant")
    c = p[1:-1, 1:-1]
    touching = np.zeros(labels.shape, bool)
    for n in (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]):
        touching |= (n > 0) & (n != c)
    return touching & (labels > 0)


def foreground(labels: np.ndarray) -> np.ndarray:
    """0 background / 1 object, int64: what a binary mask says (touching objects merge)."""
    return (np.asarray(labels) > 0).astype(np.int64)


def separated(labels: np.ndarray) -> np.ndarray:
    """Instance labels with a background line where objects touch (:func:`contact`).

    This is how the U-Net paper's annotations look: touching cells are drawn with a thin
    gap of background between them, and the weight map makes those few gap pixels count.
    Its :func:`foreground` is the binary target of the weighted losses.
    """
    labels = np.asarray(labels)
    return np.where(contact(labels), 0, labels).astype(np.int32)


def three_class(labels: np.ndarray) -> np.ndarray:
    """0 background / 1 interior / 2 boundary (:func:`boundary`), int64.

    Touching objects are separated by their two boundary rims, so the interiors of two
    nuclei never touch: labelling the predicted interior gives one seed per nucleus
    (:func:`tinyunet.instances.from_three_class`), without a weight map.
    """
    labels = np.asarray(labels)
    target = foreground(labels)
    target[boundary(labels)] = BOUNDARY
    return target


def _shorten(values, limit: int = 10) -> str:
    items = [str(v) for v in np.asarray(values).tolist()]
    more = [f"... ({len(items) - limit} more)"] if len(items) > limit else []
    return ", ".join(items[:limit] + more)
