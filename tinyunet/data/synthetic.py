"""Synthetic microscopy: touching cells drawn on the fly, with their masks.

Each image is painted like a fluorescence micrograph, in this order:

1. cells: ellipses whose radius wobbles with a few Fourier harmonics,
   ``r(phi) = 1 + sum_k c_k cos(k phi + psi_k)`` (k = 2..4), many placed against a neighbour
   so they touch and overlap (a later cell occludes an earlier one);
2. texture: smoothed noise inside each cell, a darker nucleus, a darker rim so touching cells
   stay tellable apart;
3. blur (a separable Gaussian, :func:`gaussian_blur`), uneven illumination (a linear gradient
   times a vignette), additive Gaussian noise, clipped to [0, 1].

Cells are brighter than the background on average, but the illumination and noise make a
global threshold wrong near the dark corners: a small U-Net must look at context.

``foreground`` sets the fraction of pixels covered by cells (cells are added until the union
reaches it), down to 1-2 % for the class-imbalance experiments.

Classes: with ``num_classes=2`` the mask is 0 background / 1 cell. With ``num_classes=3`` it is
0 background / 1 cell interior / 2 cell boundary, where the boundary is every cell pixel with a
4-neighbour of another label (background or another cell): a one-pixel rim around each cell, two
pixels between touching cells. Predicting that class is what separates touching cells, the
problem the U-Net paper's border weights (:mod:`tinyunet.data.weights`) were made for.
"""

from __future__ import annotations

import math

import numpy as np

from .targets import boundary


def gaussian_kernel1d(sigma: float) -> np.ndarray:
    """Normalised samples of ``exp(-x^2 / (2 sigma^2))`` for ``|x| <= ceil(3 sigma)``."""
    radius = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-(x**2) / (2.0 * sigma**2))
    return k / k.sum()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a 2-D array with a Gaussian of std ``sigma`` px, reflecting at the borders.

    The 2-D Gaussian factorises, ``g(y, x) = g(y) g(x)``, so the blur is a 1-D convolution
    along y then along x, each a weighted sum of ``2 * ceil(3 sigma) + 1`` shifted copies of
    the padded image: vectorised, no per-pixel loop (and no BLAS call, whose threads would
    fight a training loop's for the cores).
    """
    if sigma <= 0:
        return image.copy()
    k = gaussian_kernel1d(sigma)
    r = len(k) // 2
    H, W = image.shape
    if r >= min(H, W):
        raise ValueError(f"gaussian_blur: sigma={sigma} reaches {r} px, more than the image "
                         f"{image.shape} allows")
    p = np.pad(image, r, mode="reflect")
    rows = sum(w * p[j:j + H, :] for j, w in enumerate(k))      # along y: (H, W + 2r)
    return sum(w * rows[:, j:j + W] for j, w in enumerate(k))   # along x: (H, W)


_HARMONICS = np.arange(2, 5)                                 # k = 2, 3, 4


class _Cell:
    """One cell: where it is, its wobbly outline, its nucleus and brightness."""

    def __init__(self, rng: np.random.Generator, center, radius: float, wobble: float):
        self.cy, self.cx = center
        # one draw for the scalar features (each NumPy call costs microseconds, cells are many)
        elong, theta, self.brightness, self.nucleus_radius, self.nucleus_depth, nx, ny = (
            rng.uniform([1.0, 0.0, 0.65, 0.35, 0.2, -0.2, -0.2],
                        [1.4, np.pi, 1.15, 0.5, 0.35, 0.2, 0.2]))
        self.a, self.b = radius * elong, radius / elong   # a b = radius^2: area ~ pi radius^2
        self.rotation = complex(math.cos(theta), -math.sin(theta))     # e^{-i theta}
        self.nucleus_center = complex(nx, ny)               # offset, in units of the radii
        c = wobble / _HARMONICS * rng.standard_normal(3)    # higher harmonics wobble less
        self.C = c * np.exp(2j * np.pi * rng.random(3))     # C_k = c_k e^{i psi_k}
        self.reach = self.a * (1.0 + np.abs(c).sum()) + 1.0

    def raster(self, H: int, W: int):
        """Return the bounding-box slices, the inside mask and the intensity inside the box."""
        clip = lambda v, n: min(max(v, 0), n)
        y0, y1 = clip(int(self.cy - self.reach), H), clip(int(self.cy + self.reach) + 2, H)
        x0, x1 = clip(int(self.cx - self.reach), W), clip(int(self.cx + self.reach) + 2, W)
        box = (slice(y0, y1), slice(x0, x1))
        if y0 >= y1 or x0 >= x1:                              # the cell lies off the image
            empty = (max(0, y1 - y0), max(0, x1 - x0))
            return box, np.zeros(empty, bool), np.zeros(empty)
        # pixel offsets as complex numbers d = dx + i dy, rotated by -theta into the cell's axes
        # and scaled so that the cell (before wobble) is the unit circle |w| = 1
        d = (np.arange(x0, x1)[None, :] - self.cx) + 1j * (np.arange(y0, y1)[:, None] - self.cy)
        d = d * self.rotation
        w = d.real / self.a + 1j * (d.imag / self.b)
        # the outline r(phi) = 1 + sum_k c_k cos(k phi + psi_k) = 1 + Re sum_k C_k e^{i k phi},
        # with C_k = c_k e^{i psi_k}: powers of e^{i phi} = w / |w|, no trig per pixel
        rho = np.abs(w)
        e = w / np.maximum(rho, 1e-12)
        r = 1.0 + (e * e * (self.C[0] + e * (self.C[1] + e * self.C[2]))).real
        s = rho / r                                         # 0 at the centre, 1 on the outline
        inside = s <= 1.0
        in_nucleus = np.abs(w - self.nucleus_center) < self.nucleus_radius
        rim = 1.0 - 0.3 * s**6                              # darker towards the outline
        intensity = self.brightness * rim * (1.0 - self.nucleus_depth * in_nucleus)
        return box, inside, intensity


def make_cells(
    rng: np.random.Generator,
    shape: tuple[int, int],
    foreground: float,
    radius: tuple[float, float],
    cluster: float = 0.6,
    wobble: float = 0.08,
    blur_sigma: float = 1.0,
    noise_std: float = 0.07,
    illumination: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint one image; return ``(image (H, W) float32 in [0, 1], instance labels (H, W) int32)``.

    Cells are added until they cover ``foreground * H * W`` pixels. A cell never asks for much
    more than the pixels still missing (its radius is capped at ``sqrt(deficit / pi)``), and
    drawing stops once the deficit is smaller than half the smallest cell, so the covered
    fraction lands within a few percent of the target.
    """
    H, W = shape
    labels = np.zeros((H, W), np.int32)
    cell_level = np.zeros((H, W))
    target = foreground * H * W
    r_min = radius[0] * 0.5
    covered, cells = 0, []
    for _ in range(400):
        deficit = target - covered
        if deficit < 0.5 * math.pi * r_min**2:
            break
        r = min(rng.uniform(*radius), max(r_min, math.sqrt(deficit / math.pi)))
        if cells and rng.random() < cluster:                # lean against a neighbour
            other = cells[rng.integers(len(cells))]
            angle = rng.uniform(0, 2 * np.pi)
            dist = (other.a + other.b) / 2 + r * rng.uniform(0.6, 1.0)
            center = (other.cy + dist * math.sin(angle), other.cx + dist * math.cos(angle))
        else:
            center = (rng.uniform(0, H), rng.uniform(0, W))
        cell = _Cell(rng, center, r, wobble)
        box, inside, intensity = cell.raster(H, W)
        new = int((inside & (labels[box] == 0)).sum())
        if new == 0 or new > deficit + 0.5 * math.pi * r_min**2:
            continue                                        # off-image, or would overshoot
        cells.append(cell)
        labels[box][inside] = len(cells)
        cell_level[box][inside] = intensity[inside]
        covered += new

    # texture: smoothed noise, normalised to unit std, modulates cells and (less) background
    texture = gaussian_blur(rng.normal(size=(H, W)), 1.5)
    texture /= texture.std() + 1e-12
    background = rng.uniform(0.12, 0.22)
    cell_mean = rng.uniform(0.55, 0.7)
    image = np.where(labels > 0, cell_mean * cell_level * (1 + 0.12 * texture),
                     background * (1 + 0.15 * texture))
    image = gaussian_blur(image, blur_sigma)

    # uneven illumination: a linear ramp in a random direction times a radial vignette
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    direction = rng.uniform(0, 2 * np.pi)
    ramp = math.cos(direction) * xx + math.sin(direction) * yy
    vignette = 1.0 - rng.uniform(0.3, 1.0) * illumination * (xx**2 + yy**2) / 2
    image = image * (1.0 + rng.uniform(0.5, 1.0) * illumination * ramp / math.sqrt(2)) * vignette

    image = image + rng.normal(0.0, noise_std, size=(H, W))
    return np.clip(image, 0.0, 1.0).astype(np.float32), labels


def checked_settings(name, axes, size, n, num_classes, foreground) -> tuple:
    """The image shape (one side per axis in ``axes``) of a synthetic set, after checking its
    settings; a bad one raises ValueError naming ``name``, the setting and its value."""
    dims = axes.count(",") + 1
    shape = (size,) * dims if isinstance(size, int) else tuple(size)
    if len(shape) != dims or min(shape) < 8:
        raise ValueError(f"{name}: size must be an int or {axes} of at least 8 pixels, got "
                         f"{size!r}")
    if num_classes not in (2, 3):
        raise ValueError(f"{name}: num_classes must be 2 (background, cell) or 3 (background, "
                         f"cell, boundary), got {num_classes}")
    if foreground is not None and not 0.0 < foreground < 1.0:
        raise ValueError(f"{name}: foreground is a fraction in (0, 1), got {foreground}")
    if n < 0:
        raise ValueError(f"{name}: n must be >= 0, got {n}")
    return shape


class SyntheticCells:
    """A map-style dataset of synthetic cell images, made on the fly.

    Item ``i`` comes from ``np.random.default_rng((seed, i))``, so it is the same every time
    and can be made alone, in any order. ``dataset[i]`` returns ``(image, mask)``:
    image ``(1, H, W)`` float32 in [0, 1], mask ``(H, W)`` int64 class indices
    (see the module docstring for the classes), plus instance labels ``(H, W)`` int32
    (0 = background, 1..K cells) as a third item when ``instances=True``.

    Args:
        n: number of items.
        size: image side ``S`` (square) or ``(H, W)``.
        seed: dataset seed; different seeds give independent datasets.
        num_classes: 2 (background, cell) or 3 (background, cell interior, cell boundary).
        foreground: target fraction of cell pixels, e.g. 0.02; None draws it per image
            from U(0.15, 0.35).
        instances: also return the instance labels.
        radius: range of cell radii in px; default ``(0.045, 0.1) * min(H, W)``.
        cluster: probability that a new cell is placed touching an existing one.
        wobble: amplitude of the outline's Fourier harmonics (0 gives smooth ellipses).
        blur_sigma, noise_std, illumination: imaging difficulty (defaults: moderate).
    """

    def __init__(
        self,
        n: int,
        size: int | tuple[int, int] = 128,
        seed: int = 0,
        num_classes: int = 2,
        foreground: float | None = None,
        instances: bool = False,
        radius: tuple[float, float] | None = None,
        cluster: float = 0.6,
        wobble: float = 0.08,
        blur_sigma: float = 1.0,
        noise_std: float = 0.07,
        illumination: float = 0.5,
    ):
        self.shape = checked_settings("SyntheticCells", "(H, W)", size, n, num_classes,
                                      foreground)
        side = min(self.shape)
        self.n, self.seed, self.num_classes = n, seed, num_classes
        self.foreground, self.instances = foreground, instances
        self.radius = tuple(radius) if radius is not None else (0.045 * side, 0.1 * side)
        self.cluster, self.wobble = cluster, wobble
        self.blur_sigma, self.noise_std, self.illumination = blur_sigma, noise_std, illumination

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not -self.n <= i < self.n:
            raise IndexError(f"SyntheticCells: index {i} out of range for {self.n} items")
        i = int(i) % self.n
        rng = np.random.default_rng((self.seed, i))
        foreground = self.foreground if self.foreground is not None else rng.uniform(0.15, 0.35)
        image, labels = make_cells(
            rng, self.shape, foreground, self.radius, cluster=self.cluster, wobble=self.wobble,
            blur_sigma=self.blur_sigma, noise_std=self.noise_std, illumination=self.illumination,
        )
        mask = (labels > 0).astype(np.int64)
        if self.num_classes == 3:
            mask[boundary(labels)] = 2
        item = (image[None], mask)
        return item + (labels,) if self.instances else item

    def __repr__(self) -> str:
        fg = "random" if self.foreground is None else self.foreground
        return (f"SyntheticCells(n={self.n}, size={self.shape}, seed={self.seed}, "
                f"num_classes={self.num_classes}, foreground={fg})")
