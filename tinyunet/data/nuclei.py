"""Synthetic fluorescence nuclei that touch: where merged blobs are a measurable failure.

A stained-nuclei micrograph is bright ellipses on a dark background, and in any dense field
some nuclei touch or overlap. Painted here, in this order:

1. nuclei: ellipses of radius ``radius`` px; with probability ``touching`` a nucleus is put
   against one already placed, so close that the two overlap (their centres
   ``U(0.75, 0.95) (r1 + r2)`` apart), otherwise apart from the others. Where ellipses
   overlap, each pixel belongs to the nucleus it is *relatively* nearest to (the smallest
   ``s``, its distance from the centre in units of that nucleus' radius), so touching nuclei
   meet along a straight-ish contact line, as squeezed nuclei do. Every nucleus keeps its
   own label: the instance label image is exact;
2. brightness: each nucleus ``b ~ U(0.35, 1)``, a few (``saturated``) three times brighter,
   dimming towards the rim, ``b (1 - 0.6 s^3)``, with a little chromatin texture. So there
   is a faint dip of intensity where two nuclei meet — the only cue to split them;
3. a Gaussian blur (the optics), a dark background and noise.

``dtype="float32"`` gives intensities around [0, 1]; ``dtype="uint16"`` gives the counts of a
16-bit camera (an offset of 100, the brightest nuclei saturating at 65535), as a microscope
would write them to a TIFF.
"""

from __future__ import annotations

import math

import numpy as np

from .synthetic import gaussian_blur


def paint_nuclei(rng: np.random.Generator, shape: tuple[int, int], count: int,
                 radius: tuple[float, float], touching: float, saturated: float,
                 blur_sigma: float = 1.0, noise_std: float = 0.03):
    """One image: ``(intensity (H, W) float64, instance labels (H, W) int32)``."""
    H, W = shape
    centres, radii = [], []
    for _ in range(count * 20):                                  # rejection sampling
        if len(centres) == count:
            break
        r = rng.uniform(*radius)
        if centres and rng.random() < touching:
            k = rng.integers(len(centres))
            angle = rng.uniform(0, 2 * math.pi)
            dist = (radii[k] + r) * rng.uniform(0.75, 0.95)
            c = centres[k] + dist * np.array([math.sin(angle), math.cos(angle)])
            apart = [0.7 * (r + q) for q in radii]
        else:
            c = rng.uniform([0, 0], [H, W])
            apart = [r + q + 2 for q in radii]
        inside = 0 <= c[0] < H and 0 <= c[1] < W                # at least ~half in view
        if inside and all(np.hypot(*(c - o)) > a for o, a in zip(centres, apart)):
            centres.append(c)
            radii.append(r)
    yy, xx = np.mgrid[:H, :W].astype(np.float64)
    s = np.full((H, W), np.inf)                                  # relative distance s
    labels = np.zeros((H, W), np.int32)
    brightness = np.zeros((H, W))
    for k, (c, r) in enumerate(zip(centres, radii), start=1):
        theta, elong = rng.uniform(0, math.pi), rng.uniform(1.0, 1.3)
        dy, dx = yy - c[0], xx - c[1]
        u = (dx * math.cos(theta) + dy * math.sin(theta)) / (r * elong)
        v = (-dx * math.sin(theta) + dy * math.cos(theta)) * elong / r
        s_k = np.hypot(u, v)
        mine = (s_k <= 1.0) & (s_k < s)
        b = rng.uniform(0.35, 1.0) * (3.0 if rng.random() < saturated else 1.0)
        labels[mine], s[mine], brightness[mine] = k, s_k[mine], b
    texture = gaussian_blur(rng.normal(size=(H, W)), 1.0)
    texture /= texture.std() + 1e-12
    inside = labels > 0
    image = np.where(inside, brightness * (1 - 0.6 * np.where(inside, s, 0) ** 3)
                     * (1 + 0.08 * texture), 0.0)
    image = gaussian_blur(image, blur_sigma) + rng.uniform(0.02, 0.08)
    return image + rng.normal(0.0, noise_std, size=(H, W)), labels


class SyntheticNuclei:
    """A map-style dataset of touching fluorescence nuclei, made on the fly.

    Item ``i`` comes from ``np.random.default_rng((seed, i))``. ``dataset[i]`` returns
    ``(image (1, H, W), mask (H, W) int64 0/1)``, plus the instance labels ``(H, W)`` int32
    when ``instances=True`` (the default: they are the point).

    Args:
        n: number of items.
        size: image side, or ``(H, W)``.
        seed: dataset seed.
        count: nuclei per image (fewer when they do not fit).
        radius: range of nucleus radii in px.
        touching: probability that a nucleus is placed against another.
        saturated: probability that a nucleus is three times brighter than the rest.
        dtype: ``"float32"`` (intensities, the background near 0 and a typical nucleus
            near 0.7) or ``"uint16"`` (camera counts: offset 100, 1.0 = 25000 counts).
        instances: also return the instance labels.
    """

    def __init__(self, n: int, size: int | tuple[int, int] = 64, seed: int = 0,
                 count: int = 10, radius: tuple[float, float] = (5.0, 8.0),
                 touching: float = 0.5, saturated: float = 0.05, dtype: str = "float32",
                 instances: bool = True):
        self.shape = (size, size) if isinstance(size, int) else tuple(size)
        if len(self.shape) != 2 or min(self.shape) < 8:
            raise ValueError(f"SyntheticNuclei: size must be an int or (H, W) of at least "
                             f"8 px, got {size!r}")
        if dtype not in ("float32", "uint16"):
            raise ValueError(f"SyntheticNuclei: dtype must be 'float32' or 'uint16', got "
                             f"{dtype!r}")
        self.n, self.seed, self.count, self.radius = n, seed, count, tuple(radius)
        self.touching, self.saturated, self.dtype = touching, saturated, dtype
        self.instances = instances

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not -self.n <= i < self.n:
            raise IndexError(f"SyntheticNuclei: index {i} out of range for {self.n} items")
        rng = np.random.default_rng((self.seed, int(i) % self.n))
        image, labels = paint_nuclei(rng, self.shape, self.count, self.radius, self.touching,
                                     self.saturated)
        if self.dtype == "uint16":
            image = np.clip(100 + 25000 * image, 0, 65535).astype(np.uint16)
        else:
            image = image.astype(np.float32)
        item = (image[None], (labels > 0).astype(np.int64))
        return item + (labels,) if self.instances else item

    def __repr__(self) -> str:
        return (f"SyntheticNuclei(n={self.n}, size={self.shape}, seed={self.seed}, "
                f"count={self.count}, dtype={self.dtype!r})")
