"""How sharp is a predicted boundary? Two measures for the blur and skips experiments.

``edge_sharpness(prob, mask)``  the mean jump of the predicted foreground probability across the
    true boundary: for every pair of 4-neighbours that the true mask puts on different sides,
    |p(inside) - p(outside)|. A crisp, well-placed prediction jumps from 0 to 1 there (score 1);
    a blurred one spreads the step over several pixels, so each jump is smaller.

``boundary_f1(pred, mask, tolerance=1)``  the boundary F1 score (Csurka et al., 2013): the
    boundary pixels of the predicted and the true mask, each counted as matched when the other
    boundary passes within ``tolerance`` pixels (Chebyshev distance); precision and recall of
    those matches, and their harmonic mean. Dice forgives a rounded corner or a smeared edge
    when the area is right; boundary F1 does not.
"""

from __future__ import annotations

import numpy as np


def edge_sharpness(prob: np.ndarray, mask: np.ndarray) -> float:
    """Mean |p_i - p_j| over 4-neighbour pairs (i, j) with mask_i != mask_j; (N, H, W) or
    (H, W) arrays. NaN when the mask has no boundary at all."""
    prob, mask = np.asarray(prob, dtype=np.float64), np.asarray(mask)
    jumps = []
    for axis in (-1, -2):  # horizontal pairs, then vertical pairs
        n = mask.shape[axis]
        a = [slice(None)] * mask.ndim
        b = [slice(None)] * mask.ndim
        a[axis], b[axis] = slice(0, n - 1), slice(1, n)
        across = mask[tuple(a)] != mask[tuple(b)]
        jumps.append(np.abs(prob[tuple(a)] - prob[tuple(b)])[across])
    jumps = np.concatenate(jumps)
    return float(jumps.mean()) if jumps.size else float("nan")


def boundary_pixels(mask: np.ndarray) -> np.ndarray:
    """Pixels of the foreground with a 4-neighbour in the background (or past the image edge
    counted as background), for (H, W) or (N, H, W) binary masks."""
    fg = np.asarray(mask) > 0
    pad = [(0, 0)] * (fg.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(fg, pad)
    inner = (p[..., :-2, 1:-1] & p[..., 2:, 1:-1] & p[..., 1:-1, :-2] & p[..., 1:-1, 2:])
    return fg & ~inner


def _dilate(edges: np.ndarray, radius: int) -> np.ndarray:
    """Every pixel within Chebyshev distance ``radius`` of an edge pixel."""
    out = edges.copy()
    H, W = edges.shape[-2:]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = np.zeros_like(edges)
            shifted[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
                edges[..., max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
            out |= shifted
    return out


def boundary_f1(pred: np.ndarray, mask: np.ndarray, tolerance: int = 1) -> float:
    """Boundary F1 of binary masks, pooled over a batch (N, H, W) or for one (H, W) image.

    precision = matched predicted boundary pixels / predicted boundary pixels,
    recall = matched true boundary pixels / true boundary pixels, F1 = 2PR / (P + R);
    1.0 when neither mask has a boundary, 0.0 when only one of them has.
    """
    pred_edges, true_edges = boundary_pixels(pred), boundary_pixels(mask)
    n_pred, n_true = int(pred_edges.sum()), int(true_edges.sum())
    if n_pred == 0 or n_true == 0:
        return 1.0 if n_pred == n_true else 0.0
    precision = (pred_edges & _dilate(true_edges, tolerance)).sum() / n_pred
    recall = (true_edges & _dilate(pred_edges, tolerance)).sum() / n_true
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))
