"""Synthetic cell volumes: the 3-D twin of ``synthetic.py``, for the 3-D U-Net.

Each volume is painted like a fluorescence stack, in this order:

1. cells: ellipsoids with random semi-axes and a random orientation R (a rotation from the QR
   decomposition of a Gaussian matrix), voxel v inside when ``|diag(1/a) R^T (v - c)|^2 <= 1``;
   cells are added until they cover ``foreground`` of the volume, a later one occluding an
   earlier one;
2. texture: a per-cell brightness, a darker rim (the outer 25 % of each ellipsoid's radius),
   so touching cells stay tellable apart;
3. blur (a separable 3-D Gaussian, :func:`gaussian_blur3d`), uneven illumination (a linear
   gradient across the volume) and additive Gaussian noise, clipped to [0, 1].

Classes: with ``num_classes=2`` the mask is 0 background / 1 cell; with 3, 2 marks the
boundary, every cell voxel with one of its 6 neighbours of another label.
"""

from __future__ import annotations

import numpy as np

from .synthetic import checked_settings, gaussian_kernel1d


def gaussian_blur3d(volume: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a (D, H, W) array with a Gaussian of std ``sigma`` voxels, reflecting at borders.

    g(z, y, x) = g(z) g(y) g(x): three 1-D blurs, each a weighted sum of shifted copies.
    """
    if sigma <= 0:
        return volume.copy()
    k = gaussian_kernel1d(sigma)
    r = len(k) // 2
    if r >= min(volume.shape):
        raise ValueError(f"gaussian_blur3d: sigma={sigma} reaches {r} voxels, more than the "
                         f"volume {volume.shape} allows")
    out = volume
    for axis in range(3):
        n = out.shape[axis]
        padded = np.pad(out, [(r, r) if a == axis else (0, 0) for a in range(3)], mode="reflect")
        out = sum(w * np.take(padded, range(j, j + n), axis=axis) for j, w in enumerate(k))
    return out


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation: Q of a Gaussian matrix's QR, signs fixed, det +1."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def boundary(labels: np.ndarray) -> np.ndarray:
    """Voxels of a cell (label > 0) with one of their 6 neighbours of another label."""
    edge = np.zeros(labels.shape, dtype=bool)
    for axis in range(3):
        differs = np.diff(labels, axis=axis) != 0
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        edge[tuple(lo)] |= differs
        edge[tuple(hi)] |= differs
    return edge & (labels > 0)


class SyntheticCellVolumes:
    """A map-style dataset of synthetic cell volumes, made on the fly.

    Item ``i`` comes from ``np.random.default_rng((seed, i))``: the same every time, made
    alone, in any order. ``dataset[i]`` is ``(volume, mask)``: volume ``(1, D, H, W)``
    float32 in [0, 1], mask ``(D, H, W)`` int64 class indices.

    Args:
        n: number of items.
        size: side ``S`` (a cube) or ``(D, H, W)``, each at least 8.
        seed: dataset seed.
        num_classes: 2 (background, cell) or 3 (background, interior, boundary).
        foreground: fraction of cell voxels to reach; None draws it from U(0.15, 0.3).
        radius: range of semi-axes in voxels; default ``(0.1, 0.22) * min(D, H, W)``.
        blur_sigma, noise_std, illumination: imaging difficulty.
    """

    def __init__(self, n: int, size: int | tuple[int, int, int] = 32, seed: int = 0,
                 num_classes: int = 2, foreground: float | None = None,
                 radius: tuple[float, float] | None = None, blur_sigma: float = 1.0,
                 noise_std: float = 0.08, illumination: float = 0.4):
        self.shape = checked_settings("SyntheticCellVolumes", "(D, H, W)", size, n, num_classes,
                                      foreground)
        side = min(self.shape)
        self.n, self.seed, self.num_classes, self.foreground = n, seed, num_classes, foreground
        self.radius = tuple(radius) if radius is not None else (0.1 * side, 0.22 * side)
        self.blur_sigma, self.noise_std, self.illumination = blur_sigma, noise_std, illumination

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not -self.n <= i < self.n:
            raise IndexError(f"SyntheticCellVolumes: index {i} out of range for {self.n} items")
        rng = np.random.default_rng((self.seed, i % self.n))
        labels, rims, brightness = self._cells(rng)
        image = np.where(labels > 0, brightness[labels], 0.1)
        image = np.where(rims, 0.6 * image, image)  # a darker rim on every cell
        image = gaussian_blur3d(image, self.blur_sigma)
        ramp = np.linspace(-1, 1, self.shape[2]) * rng.uniform(-1, 1)  # uneven illumination
        image = image * (1 + 0.5 * self.illumination * ramp)
        image = image + rng.normal(0.0, self.noise_std, self.shape)
        mask = (labels > 0).astype(np.int64)
        if self.num_classes == 3:
            mask[boundary(labels)] = 2
        return np.clip(image, 0, 1).astype(np.float32)[None], mask

    def _cells(self, rng):
        """Instance labels (D, H, W), the rim voxels, and each label's brightness."""
        labels = np.zeros(self.shape, dtype=np.int32)
        rims = np.zeros(self.shape, dtype=bool)
        target = self.foreground if self.foreground is not None else rng.uniform(0.15, 0.3)
        grid = np.indices(self.shape, dtype=np.float64)
        brightness = [0.1]
        for k in range(1, 200):
            if (labels > 0).mean() >= target:
                break
            axes = rng.uniform(*self.radius, size=3)
            center = rng.uniform(0, 1, 3) * np.array(self.shape)
            rotation = random_rotation(rng)
            # r(v) = |diag(1/a) R^T (v - c)|: 1 on the ellipsoid's surface
            u = np.einsum("ji,j...->i...", rotation, grid - center[:, None, None, None])
            r = np.sqrt(sum((u[a] / axes[a]) ** 2 for a in range(3)))
            inside = r <= 1
            labels[inside] = k
            rims[inside] = r[inside] > 0.75
            brightness.append(rng.uniform(0.55, 0.95))
        return labels, rims, np.array(brightness)


__all__ = ["SyntheticCellVolumes", "gaussian_blur3d", "random_rotation", "boundary"]
