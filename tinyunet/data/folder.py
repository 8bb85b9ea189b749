"""A folder of images and masks — PNG or TIFF — checked before the first epoch.

Layout::

    root/images/a.tif   root/masks/a.tif        (or a.png, a_mask.png, a_labels.tif, ...)
    root/images/b.png   root/masks/b.png

A mask belongs to the image of the same name stem, optionally followed by ``_mask``,
``_masks``, ``_label`` or ``_labels``. Images are 8-, 16- or 32-bit, grey or RGB, single
images or multi-page stacks, whose pages are samples (:mod:`tinyunet.data.files`); a stack's
mask is a stack of as many pages. Each image is scaled by :mod:`tinyunet.data.normalize`
(per-image percentiles by default). Masks are class indices (binary: 0/1, 0/255, 0/65535) or
instance labels, and training gets the target it asks for (:mod:`tinyunet.data.targets`).

Everything that would otherwise fail mid-training is checked at construction, and every
problem found is reported at once, each with its file's name (``tinyunet data check DIR``
prints the same list with the statistics around it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import targets as T
from .files import IMAGE_SUFFIXES, DataError, read_image, read_mask
from .normalize import normalize

MASK_SUFFIXES = ("", "_mask", "_masks", "_label", "_labels")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def find_pairs(root) -> tuple[list[tuple[Path, Path]], list[str]]:
    """``(image, mask)`` paths under ``root/images`` and ``root/masks``, and the problems."""
    root = Path(root)
    image_dir, mask_dir = root / "images", root / "masks"
    missing = [d for d in (image_dir, mask_dir) if not d.is_dir()]
    if missing:
        return [], [f"{d} is not a folder; expected {image_dir}/* and {mask_dir}/* "
                    f"(PNG or TIFF)" for d in missing]
    images, masks = _files(image_dir), _files(mask_dir)
    if not images:
        return [], [f"no image files (.png, .tif, .tiff) in {image_dir}"]
    by_stem = {}
    for m in masks:
        by_stem.setdefault(m.stem, []).append(m)
    pairs, problems, used = [], [], set()
    for image in images:
        found = [m for s in MASK_SUFFIXES for m in by_stem.get(image.stem + s, [])]
        if not found:
            problems.append(f"{image}: no mask for it in {mask_dir} (looked for "
                            f"{image.stem}{{{','.join(MASK_SUFFIXES)}}}.png/.tif)")
        elif len(found) > 1:
            problems.append(f"{image}: more than one mask fits: "
                            + ", ".join(m.name for m in found))
        else:
            pairs.append((image, found[0]))
        used.update(found)
    problems += [f"{m}: a mask without an image" for m in masks if m not in used]
    return pairs, problems


@dataclass
class Pair:
    """One image file and its mask, read and checked: raw pixels, labels, what was found."""

    image_path: Path
    mask_path: Path
    raw: np.ndarray | None = None          # (N, C, H, W) as stored
    mask: np.ndarray | None = None         # (N, H, W) int64 as stored
    kind: str = ""                         # "classes", "binary" or "instances"
    on: int | None = None                  # the "on" value of a binary 0/on mask
    problems: list[str] = field(default_factory=list)


def read_pair(image_path: Path, mask_path: Path, num_classes: int = 2) -> Pair:
    """Read both files and check them against each other; problems name the file.
    ``num_classes``: what the masks may hold (2: any mask reads, a binary one or labels)."""
    pair = Pair(Path(image_path), Path(mask_path))
    try:
        pair.raw = read_image(image_path)
        pair.mask = read_mask(mask_path)
    except DataError as err:
        pair.problems.append(str(err))
        return pair
    if pair.raw.shape[0] != pair.mask.shape[0] or pair.raw.shape[2:] != pair.mask.shape[1:]:
        pair.problems.append(
            f"size mismatch: {image_path} is (pages, H, W) = "
            f"{(pair.raw.shape[0], *pair.raw.shape[2:])} but {mask_path} is "
            f"{pair.mask.shape}")
    if pair.raw.dtype.kind == "f" and not np.isfinite(pair.raw).all():
        pair.problems.append(f"{image_path}: {int((~np.isfinite(pair.raw)).sum())} pixels are "
                             f"NaN or infinite")
    try:
        pair.kind, pair.on = T.mask_kind(np.unique(pair.mask), num_classes)
    except ValueError as err:
        pair.problems.append(f"mask {mask_path} {err}")
    return pair


class FolderDataset:
    """``root/images/*`` with ``root/masks/*`` (PNG or TIFF), one item per image or page.

    ``dataset[i]`` returns ``(image (C, H, W) float32, target (H, W) int64)``, plus the
    instance labels ``(H, W)`` int32 when ``instances=True``, passed through
    ``transform(image, masks, rng)`` when one is given (``masks``: the target, or the tuple
    of target and labels). Items are read once and kept in memory.

    Args:
        root: folder holding ``images/`` and ``masks/``.
        transform: optional ``t(image, mask, rng) -> (image, mask)``.
        num_classes: the classes of the target (2: background and object).
        seed: seed of the rng handed to ``transform``.
        instances: also return the instance labels (a class mask's connected components).
        normalize: ``"percentile"`` (default), ``"bitdepth"`` or ``"none"``
            (:mod:`tinyunet.data.normalize`); ``percentiles`` its (low, high).
        target: ``"classes"`` (the mask's classes; instance labels become foreground),
            ``"separated"`` (foreground with a background line where objects touch) or
            ``"three_class"`` (background, interior, boundary).
    """

    def __init__(self, root, transform=None, num_classes: int = 2, seed: int = 0,
                 instances: bool = False, normalize: str = "percentile",
                 percentiles: tuple[float, float] = (1.0, 99.8), target: str = "classes"):
        if target not in T.TARGETS + ("separated",):
            raise ValueError(f"FolderDataset: unknown target {target!r}; choose from "
                             f"{T.TARGETS + ('separated',)}")
        if target != "classes" and num_classes != (3 if target == "three_class" else 2):
            raise ValueError(f"FolderDataset: target {target!r} has "
                             f"{3 if target == 'three_class' else 2} classes, but "
                             f"num_classes={num_classes}")
        self.root, self.transform, self.num_classes = Path(root), transform, num_classes
        self.rng = np.random.default_rng(seed)
        self.instances, self.target = instances, target
        self.normalize, self.percentiles = normalize, tuple(percentiles)
        paths, problems = find_pairs(self.root)
        holds = num_classes if target == "classes" else 2      # else: labels, or a binary mask
        pairs = [read_pair(i, m, holds) for i, m in paths]
        problems += [p for pair in pairs for p in pair.problems]
        if problems:
            raise DataError(f"FolderDataset {self.root}: {len(problems)} problem(s):\n  "
                            + "\n  ".join(problems))
        self.names = [pair.image_path.name for pair in pairs]
        self.image_paths = [pair.image_path for pair in pairs]
        self.mask_paths = [pair.mask_path for pair in pairs]
        self.samples = [(pair, page) for pair in pairs for page in range(len(pair.mask))]
        self._cache: dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def sample_name(self, i: int) -> str:
        pair, page = self.samples[i]
        return str(pair.image_path) + (f" (page {page})" if len(pair.mask) > 1 else "")

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"FolderDataset: index {i} out of range for {len(self)} items")
        i = int(i) % len(self)
        if i not in self._cache:
            self._cache[i] = self._load(i)
        image, target, labels = self._cache[i]
        masks = (target, labels) if self.instances else target
        if self.transform is not None:
            image, masks = self.transform(image, masks, self.rng)
        return (image, *masks) if self.instances else (image, masks)

    def _load(self, i: int) -> tuple:
        """(image, target, labels) of sample i, computed once."""
        pair, page = self.samples[i]
        image = normalize(pair.raw[page], self.normalize, *self.percentiles)
        mask = pair.mask[page]
        labels = T.instances_of(mask, pair.kind)
        if self.target == "three_class":
            target = T.three_class(labels)
        elif self.target == "separated":
            target = T.foreground(T.separated(labels))
        elif pair.kind == "classes":
            target = mask
        else:                               # a 0/on mask, or instance labels: the foreground
            target = T.foreground(labels)
        return image, target, labels

    def __repr__(self) -> str:
        return f"FolderDataset({str(self.root)!r}, {len(self)} samples)"
