"""Augmentations that move the image and its mask together.

Each transform is a small class called as ``t(image, mask, rng) -> (image, mask)`` with
image ``(C, H, W)`` float, mask ``(H, W)`` integer, and ``rng`` a ``np.random.Generator``
(the loader hands one per item, so augmentation is reproducible). ``mask`` may also be a
tuple of ``(H, W)`` arrays that travel with the image — the target, the instance labels, the
weight map — and comes back as a tuple. Geometry is applied to all arrays identically; masks
are only ever copied or sampled at the nearest pixel, never interpolated, so a mask keeps
exactly its set of classes.

:class:`ElasticDeform` is the U-Net paper's key augmentation: "random displacement vectors on a
coarse 3 by 3 grid ... sampled from a Gaussian distribution with 10 pixels standard deviation.
Per-pixel displacements are then computed using bicubic interpolation." The displacement
field is upsampled here (:func:`cubic_upsample_matrix`, two small matrix products); sampling
the image at the displaced positions is SciPy's ``map_coordinates``, and
:func:`warp_bilinear` / :func:`warp_nearest` write that sampling out to show how it works
(the tests hold them to SciPy).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _planes(mask) -> tuple[tuple, bool]:
    """``(arrays, single)``: one mask or a tuple of them, as a tuple."""
    if isinstance(mask, (tuple, list)):
        return tuple(mask), False
    return (mask,), True


def _pack(planes, single: bool):
    return planes[0] if single else tuple(planes)


def _check(name: str, image: np.ndarray, mask) -> None:
    for m in _planes(mask)[0]:
        if image.ndim != 3 or m.ndim != 2 or image.shape[1:] != m.shape:
            raise ValueError(f"{name}: expected image (C, H, W) and mask (H, W) of the same H, "
                             f"W; got image {image.shape} and mask {m.shape}")


class Compose:
    """Apply transforms in order, all drawing from the same rng."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image, mask, rng):
        for t in self.transforms:
            image, mask = t(image, mask, rng)
        return image, mask

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class RandomCrop:
    """Cut a random ``size x size`` window from the image and the mask alike.

    Training on crops is cheaper per step and, for a fully convolutional network, loses
    nothing: the weights are shared over positions, so a crop is just fewer positions.
    """

    def __init__(self, size: int):
        self.size = int(size)

    def __call__(self, image, mask, rng):
        planes, single = _planes(mask)
        H, W = image.shape[-2:]
        if self.size > min(H, W):
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the image {(H, W)}")
        y = int(rng.integers(H - self.size + 1))
        x = int(rng.integers(W - self.size + 1))
        window = (slice(y, y + self.size), slice(x, x + self.size))
        return image[(slice(None), *window)], _pack([m[window] for m in planes], single)

    def __repr__(self) -> str:
        return f"RandomCrop({self.size})"


class RandomFlip:
    """Flip left-right and (independently) up-down, each with probability ``p``."""

    def __init__(self, p: float = 0.5, horizontal: bool = True, vertical: bool = True):
        self.p, self.horizontal, self.vertical = p, horizontal, vertical

    def __call__(self, image, mask, rng):
        _check("RandomFlip", image, mask)
        flip_x, flip_y = rng.random(2) < self.p       # draw both, so the rng stream is fixed
        planes, single = _planes(mask)
        if self.horizontal and flip_x:
            image, planes = image[:, :, ::-1], [m[:, ::-1] for m in planes]
        if self.vertical and flip_y:
            image, planes = image[:, ::-1, :], [m[::-1, :] for m in planes]
        return (np.ascontiguousarray(image),
                _pack([np.ascontiguousarray(m) for m in planes], single))

    def __repr__(self) -> str:
        return f"RandomFlip(p={self.p}, horizontal={self.horizontal}, vertical={self.vertical})"


class RandomRot90:
    """Rotate by a uniformly drawn multiple of 90 degrees (non-square images change shape)."""

    def __call__(self, image, mask, rng):
        _check("RandomRot90", image, mask)
        k = int(rng.integers(4))
        planes, single = _planes(mask)
        image = np.ascontiguousarray(np.rot90(image, k, axes=(1, 2)))
        return image, _pack([np.ascontiguousarray(np.rot90(m, k)) for m in planes], single)

    def __repr__(self) -> str:
        return "RandomRot90()"


class BrightnessContrast:
    """``image <- (image - mean) * c + mean + b``, c ~ U(1 ± contrast), b ~ U(± brightness).

    The mean is the image's own (per channel), so contrast stretches about it; the result is
    clipped to [0, 1] when ``clip``. The mask is untouched.
    """

    def __init__(self, brightness: float = 0.1, contrast: float = 0.2, clip: bool = True):
        self.brightness, self.contrast, self.clip = brightness, contrast, clip

    def __call__(self, image, mask, rng):
        _check("BrightnessContrast", image, mask)
        c = rng.uniform(1.0 - self.contrast, 1.0 + self.contrast)
        b = rng.uniform(-self.brightness, self.brightness)
        mean = image.mean(axis=(1, 2), keepdims=True)
        out = (image - mean) * c + mean + b
        if self.clip:
            out = np.clip(out, 0.0, 1.0)
        return out.astype(image.dtype, copy=False), mask

    def __repr__(self) -> str:
        return f"BrightnessContrast(brightness={self.brightness}, contrast={self.contrast})"


def cubic_weights(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.5) for the 4 nodes around fractional offset t.

    Returns ``(len(t), 4)`` weights for nodes at offsets -1, 0, 1, 2 from ``floor(position)``.
    They sum to 1 and reproduce the node values exactly at t = 0 (this is bicubic
    interpolation's 1-D factor).
    """
    x = np.abs(t[:, None] - np.arange(-1, 3)[None, :])          # distance to each node
    a = -0.5
    near = (a + 2) * x**3 - (a + 3) * x**2 + 1                   # |x| <= 1
    far = a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a            # 1 < |x| < 2
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def cubic_upsample_matrix(n: int, nodes: int) -> np.ndarray:
    """The ``(n, nodes)`` matrix ``R`` so that ``R @ v`` is v, ``nodes`` values spread evenly
    from pixel 0 to pixel n-1, interpolated bicubically to all n pixels.

    Bicubic upsampling of a grid ``G`` is then ``R_H @ G @ R_W^T``: separable, two products.
    Row p holds the Keys weights of :func:`cubic_weights` for the four nodes around p. The
    node beyond each end is the linear extrapolation ``v[-1] = 2 v[0] - v[1]``, so a linear
    ramp (a uniform shear or stretch) is reproduced exactly, up to the borders.
    """
    pos = np.linspace(0.0, nodes - 1, n)                         # pixel -> grid coordinate
    base = np.minimum(np.floor(pos).astype(int), nodes - 2)
    w = cubic_weights(pos - base)
    R = np.zeros((n, nodes))
    rows = np.arange(n)
    for j, offset in enumerate(range(-1, 3)):                    # the 4 taps of each row
        node = base + offset
        inside = (node >= 0) & (node < nodes)
        np.add.at(R, (rows[inside], node[inside]), w[inside, j])
        for ghost, edge, inner in ((node < 0, 0, 1), (node >= nodes, nodes - 1, nodes - 2)):
            np.add.at(R, (rows[ghost], edge), 2 * w[ghost, j])   # v_ghost = 2 v_edge - v_inner
            np.add.at(R, (rows[ghost], inner), -w[ghost, j])
    return R


def _reflect(coord: np.ndarray, n: int) -> np.ndarray:
    """Mirror coordinates into [0, n - 1] (..., 1, 0, 1, ..., n-2, n-1, n-2, ...)."""
    if n == 1:
        return np.zeros_like(coord)
    period = 2 * (n - 1)
    c = np.mod(coord, period)
    return np.where(c > n - 1, period - c, c)


def warp_bilinear(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample every channel of ``image (C, H, W)`` at float positions ``(ys, xs)`` bilinearly,
    mirrored at the borders: the teaching version of ``map_coordinates(order=1,
    mode="mirror")``."""
    H, W = image.shape[1:]
    ys, xs = _reflect(ys, H), _reflect(xs, W)
    y0 = np.minimum(np.floor(ys).astype(int), H - 1)
    x0 = np.minimum(np.floor(xs).astype(int), W - 1)
    y1, x1 = np.minimum(y0 + 1, H - 1), np.minimum(x0 + 1, W - 1)
    fy, fx = ys - y0, xs - x0
    top = image[:, y0, x0] * (1 - fx) + image[:, y0, x1] * fx
    bottom = image[:, y1, x0] * (1 - fx) + image[:, y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(image.dtype, copy=False)


def warp_nearest(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample ``mask (H, W)`` at the nearest pixel: values are copied, so classes survive
    (the teaching version of ``map_coordinates(order=0, mode="mirror")``)."""
    H, W = mask.shape
    yi = np.clip(np.rint(_reflect(ys, H)).astype(int), 0, H - 1)
    xi = np.clip(np.rint(_reflect(xs, W)).astype(int), 0, W - 1)
    return mask[yi, xi]


class ElasticDeform:
    """The U-Net paper's elastic deformation.

    Displacements ``(dy, dx)`` ~ N(0, sigma^2) px are drawn on a ``grid x grid`` lattice
    spanning the image, upsampled bicubically to a dense field, and every output pixel p takes
    the input at ``p + displacement(p)`` (mirrored at the borders): bilinearly for the image,
    from the nearest pixel for the mask, so both move identically and the mask stays integer.
    Applied with probability ``p``.
    """

    def __init__(self, sigma: float = 10.0, grid: int = 3, p: float = 1.0):
        if grid < 2:
            raise ValueError(f"ElasticDeform: grid must be at least 2 nodes per side, got {grid}")
        self.sigma, self.grid, self.p = sigma, grid, p

    def displacement(self, shape: tuple[int, int], rng: np.random.Generator):
        """Dense displacement field ``(dy, dx)``, each (H, W), drawn from ``rng``."""
        H, W = shape
        coarse = rng.normal(0.0, self.sigma, size=(2, self.grid, self.grid))
        R_H, R_W = cubic_upsample_matrix(H, self.grid), cubic_upsample_matrix(W, self.grid)
        # R_H @ G @ R_W^T for each of the two grids, written out so no BLAS threads start
        dy, dx = (np.einsum("hi,ij,wj->hw", R_H, g, R_W) for g in coarse)
        return dy, dx

    def __call__(self, image, mask, rng):
        _check("ElasticDeform", image, mask)
        if rng.random() >= self.p:
            return image, mask
        H, W = image.shape[-2:]
        dy, dx = self.displacement((H, W), rng)
        where = np.stack([np.arange(H, dtype=np.float64)[:, None] + dy,
                          np.arange(W, dtype=np.float64)[None, :] + dx])
        warped = np.stack([ndimage.map_coordinates(c, where, order=1, mode="mirror")
                           for c in image]).astype(image.dtype, copy=False)
        planes, single = _planes(mask)
        return warped, _pack([ndimage.map_coordinates(m, where, order=0, mode="mirror")
                              for m in planes], single)

    def __repr__(self) -> str:
        return f"ElasticDeform(sigma={self.sigma}, grid={self.grid}, p={self.p})"
