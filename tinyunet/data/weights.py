"""The U-Net paper's weight map: make the thin gaps between touching cells count.

Ronneberger et al. (2015), eq. 2, weight every pixel's cross-entropy by

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2)),    w0 = 10, sigma = 5 px,

where d1(x) and d2(x) are the distances from pixel x to the nearest and to the second-nearest
cell, and w_c balances the class frequencies. Where two cells nearly touch, d1 + d2 is small
for the pixels between them, so those few pixels weigh up to ``w_c + w0``; far from any pair of
cells the exponential vanishes and ``w = w_c``.

Distances come from an exact Euclidean distance transform, one per cell in a window around
it. The map is computed with SciPy's (``scipy.ndimage.distance_transform_edt``, linear in
the number of pixels); :func:`distance_transform` writes the same transform out in NumPy to
show how it works (brute force, ``O(H W (H + W))``: far slower on a real micrograph), and the
tests hold the two to each other. Likewise :func:`label_components` shows how connected
components are found, and the pipeline uses ``scipy.ndimage.label``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def distance_transform(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance from every pixel to the nearest True pixel of ``mask``
    (the teaching version of ``scipy.ndimage.distance_transform_edt(~mask)``).

    ``D(y, x)^2 = min over (y', x') in mask of (y - y')^2 + (x - x')^2`` splits into two 1-D
    minimisations (Saito and Toriwaki): first along each column,
    ``G(y, x) = min_y' (y - y')^2 + F(y', x)`` with ``F = 0`` on the mask and ``inf`` off it,
    then along each row, ``D^2(y, x) = min_x' (x - x')^2 + G(y, x')``. Each pass is done by
    brute force as one broadcast ``(n, n, m)`` minimum: ``O(H W (H + W))`` work, no Python loop
    over pixels. An empty mask is infinitely far away everywhere.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"distance_transform: expected a 2-D mask, got shape {mask.shape}")
    H, W = mask.shape
    if not mask.any():
        return np.full((H, W), np.inf)
    F = np.where(mask, 0.0, np.inf)
    y, x = np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64)
    dy2 = (y[:, None] - y[None, :]) ** 2                          # (y, y')
    G = (dy2[:, :, None] + F[None, :, :]).min(axis=1)             # min over y'
    dx2 = (x[:, None] - x[None, :]) ** 2                          # (x, x')
    D2 = (G[:, None, :] + dx2[None, :, :]).min(axis=2)            # min over x'
    return np.sqrt(D2)


def label_components(mask: np.ndarray) -> np.ndarray:
    """Label the 4-connected components of a binary mask 1..K (0 stays background): the
    teaching version of ``scipy.ndimage.label(mask)[0]``, which numbers them alike.

    Every foreground pixel starts with its own number; each sweep lets a pixel take the
    smallest number among itself and its four neighbours, until nothing changes. The numbers
    are then renumbered 1..K in order of first appearance (row-major). Each sweep is a few
    whole-array operations; a component needs as many sweeps as its longest inner path.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"label_components: expected a 2-D mask, got shape {mask.shape}")
    big = mask.size + 1
    labels = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), big)
    while True:
        p = np.pad(labels, 1, constant_values=big)
        smallest = np.minimum.reduce([labels, p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
        smallest = np.where(mask, smallest, big)
        if np.array_equal(smallest, labels):
            break
        labels = smallest
    # each component now carries 1 + the flat index of its first pixel (row-major), so
    # sorting those numbers orders the components by first appearance
    _, inverse = np.unique(labels[mask], return_inverse=True)
    out = np.zeros(mask.shape, np.int32)
    out[mask] = inverse + 1
    return out


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """:func:`distance_transform`, computed by SciPy (``inf`` everywhere for an empty mask)."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndimage.distance_transform_edt(~mask)


def class_balance_weights(mask: np.ndarray) -> np.ndarray:
    """``w_c(x) = N / (K N_c)`` for pixel x of class c: each present class gets equal total weight.

    N is the number of pixels, N_c those of class c, K the number of classes present. The
    weights average to 1 over the image, and a class 50 times rarer weighs 50 times more.
    """
    mask = np.asarray(mask)
    classes, counts = np.unique(mask, return_counts=True)
    w_class = mask.size / (len(classes) * counts)
    return w_class[np.searchsorted(classes, mask)]


def unet_weight_map(
    instances: np.ndarray,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: np.ndarray | None = None,
    background_only: bool = False,
) -> np.ndarray:
    """The paper's weight map ``w = w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2))``, float32 (H, W).

    Args:
        instances: (H, W) integer instance labels, 0 background and 1..K the cells (from
            ``SyntheticCells(..., instances=True)``, or :func:`label_components` of a mask).
        w0, sigma: the border term's height and width in px (the paper: 10 and 5).
        class_weights: ``w_c`` as an (H, W) array; default :func:`class_balance_weights` of
            cell vs background.
        background_only: put the border term on background pixels only. The paper draws the
            gap between touching cells as background and its Fig. 3d shows the weight there;
            with False (default) the formula is applied everywhere, so cells that touch
            with no gap (as in :class:`SyntheticCells`) are weighted along their contact line,
            where ``d1 = 0`` (inside one cell) and ``d2`` is about one pixel.

    ``d1`` and ``d2`` are distances to the nearest and second-nearest cell (0 inside a cell
    for its own ``d``). With fewer than two cells ``d2`` is infinite and ``w = w_c``.
    """
    instances = np.asarray(instances)
    if instances.ndim != 2:
        raise ValueError(f"unet_weight_map: expected (H, W) instance labels, "
                         f"got shape {instances.shape}")
    if not np.issubdtype(instances.dtype, np.integer):
        raise ValueError(f"unet_weight_map: instance labels must be integers, "
                         f"got {instances.dtype}")
    foreground = instances > 0
    w_c = class_balance_weights(foreground) if class_weights is None else class_weights
    if np.shape(w_c) != instances.shape:
        raise ValueError(f"unet_weight_map: class_weights has shape {np.shape(w_c)} but "
                         f"instances has shape {instances.shape}")

    # Keep the two smallest distances per pixel while looping over the cells. Each cell's
    # distance transform is computed only in its bounding box grown by `reach` = 5 sigma:
    # beyond that d2 > reach, and the border term is below w0 exp(-12.5) < 4e-5 w0.
    reach = int(np.ceil(5 * sigma))
    H, W = instances.shape
    d1 = np.full((H, W), np.inf)
    d2 = np.full((H, W), np.inf)
    values, dense = np.unique(instances, return_inverse=True)
    dense = dense.reshape(H, W) + int(values[0] != 0)         # background 0, the cells 1..K
    for k, box in enumerate(ndimage.find_objects(dense), start=1):
        if box is None:
            continue
        win = (slice(max(box[0].start - reach, 0), min(box[0].stop + reach, H)),
               slice(max(box[1].start - reach, 0), min(box[1].stop + reach, W)))
        d = _distance_to(dense[win] == k)
        d2[win] = np.minimum(d2[win], np.maximum(d1[win], d))
        d1[win] = np.minimum(d1[win], d)

    border = w0 * np.exp(-((d1 + d2) ** 2) / (2.0 * sigma**2))
    if background_only:
        border = np.where(foreground, 0.0, border)
    return (w_c + border).astype(np.float32)
