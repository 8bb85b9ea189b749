"""Synthetic shapes with prompts: the diffusion lesson's data, drawn on the fly, no download.

Each image is one white shape on black: a circle, a square or a triangle (pointing up), of a
random size within its size class and at a random position, anti-aliased by supersampling
(each pixel is the covered fraction of its 4 x 4 sub-pixels). Its prompt names the two things
a model must get right, size and kind: "small circle", "big square", ...

The prompt vocabulary is tiny::

    0 "<null>"   the empty prompt (classifier-free guidance trains on it)
    1 "small"    2 "big"
    3 "circle"   4 "square"   5 "triangle"

A shape's *extent* is the side of its bounding box: small shapes span 30-42 % of the image,
big ones 60-80 %. ``classify_shape`` reads size and kind back from an image with a few lines
of geometry (bounding box and how much of it is filled: square ~1, circle ~pi/4, triangle
~1/2), which is how the tests judge whether generated samples obey their prompts.
"""

from __future__ import annotations

import numpy as np

from ..ops.interpolate import interpolate
from ..tensor import Tensor
from .targets import components

VOCAB = ("<null>", "small", "big", "circle", "square", "triangle")
SIZES = ("small", "big")
KINDS = ("circle", "square", "triangle")
PROMPTS = tuple(f"{s} {k}" for s in SIZES for k in KINDS)
EXTENTS = {"small": (0.30, 0.42), "big": (0.60, 0.80)}   # bounding-box side / image side
NULL_PROMPT = "<null> <null>"


def tokenize(prompt: str) -> np.ndarray:
    """"big square" -> array([2, 4]): one id per word (int64)."""
    words = prompt.split()
    unknown = [w for w in words if w not in VOCAB]
    if unknown or len(words) != 2:
        raise ValueError(f"tokenize: {prompt!r} is not a prompt of two words from the "
                         f"vocabulary {VOCAB} (size then kind, e.g. 'small circle')")
    return np.array([VOCAB.index(w) for w in words], dtype=np.int64)


def detokenize(ids) -> str:
    return " ".join(VOCAB[int(i)] for i in ids)


def draw_shape(kind: str, extent: float, center, size: int, supersample: int = 4) -> np.ndarray:
    """A (size, size) float32 image in [0, 1]: the fraction of each pixel covered by the shape.

    Coordinates are continuous, pixel (i, j) covering [j, j + 1] x [i, i + 1]; ``center`` is
    (cy, cx) and ``extent`` the bounding-box side, both in pixels.
    """
    cy, cx = center
    r = extent / 2
    n = size * supersample
    coords = (np.arange(n) + 0.5) / supersample             # sub-pixel centres
    y, x = coords[:, None], coords[None, :]
    if kind == "circle":
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= r**2
    elif kind == "square":
        inside = (np.abs(x - cx) <= r) & (np.abs(y - cy) <= r)
    elif kind == "triangle":                                # apex on top, base at the bottom
        top = cy - r
        inside = (y <= cy + r) & (np.abs(x - cx) <= (y - top) / 2)
    else:
        raise ValueError(f"draw_shape: unknown kind {kind!r}; choose from {KINDS}")
    coverage = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    return coverage.astype(np.float32)


class ShapesDataset:
    """``ShapesDataset(n, size=16, seed=0)``: item i is ``(image (1, size, size) float32 in
    [0, 1], tokens (2,) int64)``, its prompt ``PROMPTS[i % 6]`` (so the six prompts are
    balanced) and its size and position drawn from ``np.random.default_rng((seed, i))``."""

    def __init__(self, n: int, size: int = 16, seed: int = 0):
        if size < 8:
            raise ValueError(f"ShapesDataset: size must be at least 8 pixels, got {size}")
        self.n, self.size, self.seed = n, size, seed

    def __len__(self) -> int:
        return self.n

    def prompt(self, i: int) -> str:
        return PROMPTS[i % len(PROMPTS)]

    def __getitem__(self, i: int):
        if not -self.n <= i < self.n:
            raise IndexError(f"ShapesDataset: index {i} out of range for {self.n} items")
        i %= self.n
        size_word, kind = self.prompt(i).split()
        rng = np.random.default_rng((self.seed, i))
        extent = rng.uniform(*EXTENTS[size_word]) * self.size
        lo, hi = extent / 2 + 0.5, self.size - extent / 2 - 0.5   # keep a pixel of margin
        center = rng.uniform(lo, hi, size=2)
        image = draw_shape(kind, extent, center, self.size)
        return image[None], tokenize(self.prompt(i))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every item stacked: images (n, 1, size, size) and tokens (n, 2)."""
        items = [self[i] for i in range(self.n)]
        return np.stack([im for im, _ in items]), np.stack([tok for _, tok in items])


def _holes(blob: np.ndarray) -> np.ndarray:
    """Background pixels enclosed by ``blob``: components of the rest that miss the border."""
    rest = components(~blob)
    border = np.unique(np.concatenate([rest[0], rest[-1], rest[:, 0], rest[:, -1]]))
    return (rest > 0) & ~np.isin(rest, border)


def classify_shape(image, threshold: float = 0.5, upsample: int = 4) -> str | None:
    """Read "size kind" back from an image in [0, 1] (H, W) or (1, H, W); None if empty.

    The image is first upsampled bilinearly (so the 0.5 contour of an anti-aliased edge falls
    between pixels, where it really is), then the largest 4-connected blob above ``threshold``
    is the shape (holes filled). Its bounding box gives the size (side over image side, split
    halfway between the two extent ranges); the filled fraction of the box gives the kind: a
    square fills it, a circle fills pi/4 = 0.79 of it, a triangle 1/2 (and keeps two thirds of
    its pixels in the lower half of the box).
    """
    image = np.asarray(image, dtype=np.float32)
    image = image.reshape(image.shape[-2:])
    fine = interpolate(Tensor(image[None, None]), scale_factor=upsample, mode="bilinear",
                       align_corners=False).numpy()[0, 0]
    labels = components(fine > threshold)
    if labels.max() == 0:
        return None
    blob = labels == np.bincount(labels.ravel())[1:].argmax() + 1
    blob |= _holes(blob)                          # a speckled inside is still inside
    ys, xs = np.nonzero(blob)
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    extent = max(h, w) / max(fine.shape)
    size_word = "big" if extent > (EXTENTS["small"][1] + EXTENTS["big"][0]) / 2 else "small"
    fill = blob.sum() / (h * w)
    lower = (ys > (ys.min() + ys.max()) / 2).sum() / len(ys)   # share in the lower half
    if fill < 0.65 or lower > 0.58:
        kind = "triangle"
    elif fill > 0.89:
        kind = "square"
    else:
        kind = "circle"
    return f"{size_word} {kind}"
