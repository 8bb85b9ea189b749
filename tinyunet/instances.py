"""From a predicted mask to objects: an instance label image, one integer per nucleus.

A semantic mask says which pixels are nucleus; counting and measuring nuclei needs to know
which pixels are *which* nucleus. Three ways from a prediction to labels, by what the network
was trained to predict:

* **components** (:func:`from_foreground`): label the connected foreground. Exact when the
  network keeps touching objects apart — as it learns to with the U-Net paper's weight map,
  which draws a heavily weighted background line between them. A plain binary network
  merges touching nuclei into one blob, and this counts the blob once.
* **a marker-based split** (:func:`split_touching`): the classical repair of merged blobs.
  Inside a blob the distance to the background peaks once per round nucleus; each peak is a
  marker, and the markers grow through the blob, one pixel a step, until they meet
  (:func:`grow`), so two nuclei joined by a neck become two objects. It guesses from shape
  alone, so an elongated nucleus may be split in two.
* **the boundary class** (:func:`from_three_class`): a network trained on background /
  interior / boundary draws each nucleus' rim, so interiors of touching nuclei never touch.
  The interiors are the seeds (split at their necks too, where a drawn rim has a gap), and
  the seeds grow over the boundary pixels.

Objects smaller than ``min_size`` pixels are dropped: a few stray pixels are not a nucleus.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .data.targets import boundary

MIN_SIZE = 8
METHODS = ("components", "split", "three_class")


def relabel(labels: np.ndarray) -> np.ndarray:
    """The same objects numbered 1..K in row-major order of their first pixel, int32."""
    labels = np.asarray(labels)
    _, first = np.unique(labels.ravel(), return_index=True)
    values = labels.ravel()[np.sort(first)]
    values = values[values != 0]
    lookup = np.zeros(int(labels.max(initial=0)) + 1, np.int32)
    lookup[values] = np.arange(1, len(values) + 1)
    return lookup[labels]


def remove_small(labels: np.ndarray, min_size: int = MIN_SIZE) -> np.ndarray:
    """Drop objects of fewer than ``min_size`` pixels, renumber the rest 1..K."""
    labels = np.asarray(labels)
    sizes = np.bincount(labels.ravel())
    small = sizes < min_size
    small[0] = False
    return relabel(np.where(small[labels], 0, labels))


def from_foreground(mask, min_size: int = MIN_SIZE) -> np.ndarray:
    """Instance labels of a predicted foreground ``mask > 0``: its 4-connected components."""
    labels, _ = ndimage.label(np.asarray(mask) > 0)
    return remove_small(labels, min_size)


def markers(distance: np.ndarray, foreground: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """One marker per round part of the foreground: peaks of the (smoothed) distance map.

    The peaks are taken highest first, and a peak is kept only if no kept one lies within
    ``spacing`` times its own distance to the background: a nucleus of radius r has one peak
    about r from its rim, and a ridge or a second bump inside the same nucleus lies closer
    to that peak than r. Every foreground component keeps at least one marker.
    """
    smooth = ndimage.gaussian_filter(distance, 1.0) * foreground
    peaks = (smooth == ndimage.maximum_filter(smooth, size=3)) & foreground
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-smooth[ys, xs], kind="stable")
    kept = np.empty((0, 2))
    for y, x in zip(ys[order], xs[order]):
        if not len(kept) or np.hypot(*(kept - (y, x)).T).min() > spacing * smooth[y, x]:
            kept = np.vstack([kept, (y, x)])
    out = np.zeros(foreground.shape, np.int32)
    out[kept[:, 0].astype(int), kept[:, 1].astype(int)] = np.arange(1, len(kept) + 1)
    parts, n = ndimage.label(foreground)
    unmarked = np.setdiff1d(np.arange(1, n + 1), parts[out > 0])
    for y, x in ndimage.maximum_position(smooth, parts, unmarked):
        out[y, x] = out.max() + 1                # a blob without a peak of its own keeps one
    return out


def grow(seeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Grow labelled ``seeds`` through ``mask``, one pixel (a 4-neighbour) per step, until
    every reachable pixel is taken: each pixel joins the seed it is fewest steps from inside
    the mask (the geodesic nearest seed; where two are equally near, the larger label)."""
    labels = np.where(mask, seeds, 0)
    cross = ndimage.generate_binary_structure(2, 1)
    while True:
        free = mask & (labels == 0)
        reach = ndimage.grey_dilation(labels, footprint=cross) * free
        if not reach.any():
            return labels
        labels = labels + reach


def split_touching(mask, spacing: float = 1.0, min_size: int = MIN_SIZE) -> np.ndarray:
    """Split the foreground at its necks: :func:`markers` at the peaks of the distance to the
    background, grown through the foreground (:func:`grow`), so the markers of two round
    nuclei meet at the neck between them.

    (``scipy.ndimage.watershed_ift`` floods by the largest cost along a path; inside one
    blob every pixel outside the necks is then reached at the same cost from several markers,
    and the ties leave ragged, ring-shaped objects. Growing by steps has no such ties.)
    """
    foreground = np.asarray(mask) > 0
    if not foreground.any():
        return np.zeros(foreground.shape, np.int32)
    distance = ndimage.distance_transform_edt(foreground)
    seeds = markers(distance, foreground, spacing)
    return remove_small(grow(seeds, foreground), min_size)


def from_three_class(mask, interior: int = 1, min_size: int = MIN_SIZE) -> np.ndarray:
    """Instances from a background / interior / boundary mask: the interiors are the seeds,
    split at their necks (:func:`split_touching`: where the predicted boundary between two
    nuclei has a gap, their interiors meet in a thin bridge), and grown over the boundary
    pixels (:func:`grow`)."""
    mask = np.asarray(mask)
    seeds = split_touching(mask == interior, min_size=1)
    return remove_small(grow(seeds, mask > 0), min_size)


def from_prediction(mask, method: str = "components", min_size: int = MIN_SIZE) -> np.ndarray:
    """Instance labels ``(H, W)`` int32 of a predicted class mask, by ``method``."""
    if method == "components":
        return from_foreground(mask, min_size)
    if method == "split":
        return split_touching(mask, min_size=min_size)
    if method == "three_class":
        return from_three_class(mask, min_size=min_size)
    raise ValueError(f"from_prediction: unknown method {method!r}; choose from {METHODS}")


def default_method(target: str | None) -> str:
    """How a model trained on ``target`` gets its instances: from its boundary class if it
    has one, else by splitting its foreground at the necks (which keeps apart what the
    network separated, and repairs what it merged)."""
    return "three_class" if target == "three_class" else "split"


def outlines(labels: np.ndarray) -> np.ndarray:
    """Each object's outline, bool: its pixels with a 4-neighbour outside it."""
    return boundary(np.asarray(labels))
