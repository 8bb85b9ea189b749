"""A folder of PNG images and masks, checked before the first epoch.

Layout::

    root/images/a.png   root/masks/a.png
    root/images/b.png   root/masks/b.png

Images are 8- or 16-bit PNGs, grayscale (returned ``(1, H, W)``) or RGB (``(3, H, W)``; an
alpha channel is dropped), scaled to float32 in [0, 1] by the largest value of their bit depth.
Masks are single-channel PNGs of class indices ``0..num_classes-1``; a binary mask saved as
0/255 (or 0/65535 in 16 bits) reads as 0/1.

Everything that would otherwise fail mid-training is checked at construction, with errors that
name the files: an empty folder, images without masks (and masks without images), an image and
mask of different sizes, a mask with values that are not classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

_MASK_MODES = {"1", "L", "P", "I", "I;16", "I;16B", "I;16L"}


def _read_image(path: Path) -> np.ndarray:
    """PNG -> float32 ``(C, H, W)`` in [0, 1], C = 1 (grayscale) or 3 (colour)."""
    with Image.open(path) as im:
        if im.mode in ("I", "I;16", "I;16B", "I;16L"):          # 16-bit grayscale
            return (np.asarray(im, dtype=np.float32) / 65535.0)[None]
        if im.mode in ("1", "L", "LA"):
            return (np.asarray(im.convert("L"), dtype=np.float32) / 255.0)[None]
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def _read_mask(path: Path) -> np.ndarray:
    """PNG -> its raw integer values ``(H, W)`` int64 (checked and mapped by the dataset)."""
    with Image.open(path) as im:
        if im.mode not in _MASK_MODES:
            raise ValueError(f"FolderDataset: mask {path} has mode {im.mode!r}; masks must be "
                             f"single-channel (8- or 16-bit grayscale or palette) PNGs")
        return np.asarray(im).astype(np.int64)


def _size(path: Path) -> tuple[int, int]:
    """(H, W) from the PNG header, without decoding the pixels."""
    with Image.open(path) as im:
        return im.height, im.width


class FolderDataset:
    """``root/images/*.png`` with ``root/masks/*.png`` of the same names, as a map-style dataset.

    ``dataset[i]`` returns ``(image (C, H, W) float32, mask (H, W) int64)`` for the i-th name
    in sorted order, passed through ``transform(image, mask, rng)`` when one is given. The
    dataset's rng is seeded once, so the random draws depend on the order of access; for
    augmentation that is reproducible per epoch, give the transform to the
    :class:`~tinyunet.data.DataLoader` instead.

    Args:
        root: folder holding ``images/`` and ``masks/``.
        transform: optional ``t(image, mask, rng) -> (image, mask)``.
        num_classes: masks may hold 0..num_classes-1 (default 2: a binary mask, 0/1 or 0/255).
        seed: seed of the rng handed to ``transform``.
    """

    def __init__(self, root, transform=None, num_classes: int = 2, seed: int = 0):
        self.root = Path(root)
        self.transform = transform
        self.num_classes = num_classes
        self.rng = np.random.default_rng(seed)
        image_dir, mask_dir = self.root / "images", self.root / "masks"
        for d in (image_dir, mask_dir):
            if not d.is_dir():
                raise FileNotFoundError(f"FolderDataset: {d} is not a folder; expected "
                                        f"{self.root}/images/*.png and {self.root}/masks/*.png")
        images = {p.name for p in image_dir.glob("*.png")}
        masks = {p.name for p in mask_dir.glob("*.png")}
        if not images and not masks:
            raise ValueError(f"FolderDataset: no PNG files in {image_dir} or {mask_dir}")
        no_mask, no_image = sorted(images - masks), sorted(masks - images)
        if no_mask or no_image:
            raise ValueError(
                "FolderDataset: images and masks must come in pairs of the same name; "
                + "; ".join(f"{what}: {_shorten(names)}"
                            for what, names in (("images without a mask", no_mask),
                                                ("masks without an image", no_image)) if names))
        self.names = sorted(images)
        self.image_paths = [image_dir / n for n in self.names]
        self.mask_paths = [mask_dir / n for n in self.names]
        self.binary_max = {}                 # mask file -> the "on" value of a 0/max mask
        for image_path, mask_path in zip(self.image_paths, self.mask_paths):
            self._check_pair(image_path, mask_path)

    def _check_pair(self, image_path: Path, mask_path: Path) -> None:
        """Raise if the pair differs in size or the mask holds values that are not classes."""
        image_size, mask_size = _size(image_path), _size(mask_path)
        if image_size != mask_size:
            raise ValueError(f"FolderDataset: size mismatch: {image_path} is (H, W) = "
                             f"{image_size} but {mask_path} is {mask_size}")
        values = np.unique(_read_mask(mask_path))
        classes = np.arange(self.num_classes)
        if np.isin(values, classes).all():
            return
        for on in (255, 65535):              # a binary mask saved as 0/255 or 0/65535
            if np.isin(values, (0, on)).all():
                self.binary_max[mask_path] = on
                return
        bad = values[~np.isin(values, classes)]
        raise ValueError(
            f"FolderDataset: mask {mask_path} has unexpected values {_shorten(bad.tolist())} "
            f"(all its values: {_shorten(values.tolist())}); expected class indices "
            f"0..{self.num_classes - 1} (num_classes={self.num_classes}) or a binary 0/255 mask")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"FolderDataset: index {i} out of range for {len(self)} items")
        image = _read_image(self.image_paths[i])
        mask = _read_mask(self.mask_paths[i])
        on = self.binary_max.get(self.mask_paths[i])
        if on is not None:
            mask = (mask == on).astype(np.int64)
        if self.transform is not None:
            image, mask = self.transform(image, mask, self.rng)
        return image, mask

    def __repr__(self) -> str:
        return f"FolderDataset({str(self.root)!r}, {len(self)} pairs)"


def _shorten(items, limit: int = 10) -> str:
    """``"a, b, c"``: the first ``limit`` items and how many more, so an error stays readable."""
    items = [str(x) for x in items]
    more = [f"... ({len(items) - limit} more)"] if len(items) > limit else []
    return ", ".join(items[:limit] + more)
