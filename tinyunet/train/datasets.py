"""The data of a training run, from its config: what each split holds and how it is served.

Every item is ``(image, target, instance labels[, weight map])``: the labels feed the
instance metrics of validation (:mod:`tinyunet.instance_metrics`), the weight map the
weighted losses. Sources:

* ``"synthetic"``: :class:`~tinyunet.data.SyntheticCells`, held-out validation images from
  another seed, made once and kept in memory;
* ``"nuclei"``: :class:`~tinyunet.data.nuclei.SyntheticNuclei`, touching fluorescence nuclei;
* a folder: ``DIR/train`` and ``DIR/val``, each ``images/`` + ``masks/`` (PNG or TIFF); or
  just ``DIR/images`` + ``DIR/masks``, of which the last fifth of the images (at least one;
  of a single stack, its pages) is held out for validation.

Few images must still train: the training set is repeated so that an epoch fills at least one
batch and, when training on random crops of folder images, covers each image's area about
once (:class:`~tinyunet.data.sampling.Repeat`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data import Compose, FolderDataset, RandomCrop, RandomFlip, RandomRot90, SyntheticCells
from ..data import targets as T
from ..data.check import size_problems
from ..data.files import DataError
from ..data.normalize import normalize
from ..data.nuclei import SyntheticNuclei
from ..data.sampling import Repeat, WithWeightMaps

WEIGHTED_LOSSES = ("weighted_ce", "dice_weighted_ce")


class Subset:
    """Items ``indices`` of ``dataset``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]

    def sample_name(self, i: int) -> str:
        return self.dataset.sample_name(self.indices[i])


def target_name(config) -> str:
    """The target training uses: the weighted losses draw a background line between touching
    objects (the U-Net paper's annotation), which their weight map then makes count."""
    if config.target == "classes" and config.loss in WEIGHTED_LOSSES:
        return "separated"
    return config.target


def _target(labels, mask, name: str):
    if name == "three_class":
        return T.three_class(labels)
    if name == "separated":
        return T.foreground(T.separated(labels))
    return mask


def _made(dataset, config, name: str) -> list:
    """Every item of a synthetic set, normalised like a file, with its target and labels."""
    items = []
    for i in range(len(dataset)):
        image, mask, labels = dataset[i]
        image = normalize(image, config.normalize, config.percentile_low,
                          config.percentile_high)
        items.append((image, _target(labels, mask, name), labels))
    return items


def _folder(root: Path, config, name: str) -> FolderDataset:
    return FolderDataset(root, num_classes=config.num_classes, instances=True,
                         normalize=config.normalize,
                         percentiles=(config.percentile_low, config.percentile_high),
                         target=name)


def make_datasets(config):
    """(train, validation) datasets of ``(image, target, labels[, weight])`` items."""
    name = target_name(config)
    if config.data in ("synthetic", "nuclei"):
        if config.data == "synthetic":
            make = lambda n, seed: SyntheticCells(n, config.image_size, seed=seed,
                                                  num_classes=config.num_classes,
                                                  instances=True)
        else:
            make = lambda n, seed: SyntheticNuclei(n, config.image_size, seed=seed)
        train = _made(make(config.train_images, config.seed), config, name)
        val = _made(make(config.val_images, 10_000 + config.seed), config, name)
    else:
        train, val = _split_folder(Path(config.data), config, name)
    if config.loss in WEIGHTED_LOSSES:
        train = WithWeightMaps(train, config.w0, config.sigma)
        val = WithWeightMaps(val, config.w0, config.sigma)
    return train, val


def _split_folder(root: Path, config, name: str):
    if (root / "train").is_dir():
        if not (root / "val").is_dir():
            raise DataError(f"{root} has train/ but no val/: add {root}/val/images and "
                            f"{root}/val/masks, or put all pairs in {root}/images and "
                            f"{root}/masks to hold out a fifth automatically")
        return _folder(root / "train", config, name), _folder(root / "val", config, name)
    if not (root / "images").is_dir():
        raise DataError(f"{root}: expected {root}/train and {root}/val (each with images/ and "
                        f"masks/), or {root}/images and {root}/masks")
    every = _folder(root, config, name)
    # hold out whole files; a single stack holds out pages; a single image is all there is
    unit = ((lambda i: every.samples[i][0].image_path) if len(every.image_paths) > 1
            else (lambda i: i))
    units = list(dict.fromkeys(unit(i) for i in range(len(every))))
    if len(units) < 2:
        return every, every         # one image: validated on what it trains on
    held = set(units[-max(1, len(units) // 5):])
    train = [i for i in range(len(every)) if unit(i) not in held]
    return Subset(every, train), Subset(every, [i for i in range(len(every)) if unit(i) in held])


def image_sizes(dataset) -> dict:
    """``{name: (H, W)}`` of every item (named by its file where it has one)."""
    name = getattr(dataset, "sample_name", lambda i: f"image {i}")
    return {name(i): tuple(np.shape(dataset[i][0])[-2:]) for i in range(len(dataset))}


def check_sizes(config, train) -> None:
    """Say in one line what to change when the crops or batches cannot be cut or stacked."""
    problems = size_problems(image_sizes(train), config.crop, config.batch_size, config.depth)
    if problems:
        raise DataError(problems[0])


def repeats(config, train) -> int:
    """How often to serve each training item per epoch: enough for one full batch, and for
    folder images on crops, about one crop per crop-sized area of the image."""
    n = len(train)
    times = math.ceil(config.batch_size / n)
    if config.crop and config.data not in ("synthetic", "nuclei"):
        area = np.mean([h * w for h, w in image_sizes(train).values()])
        times = max(times, math.floor(area / config.crop**2))
    return max(times, 1)


def make_augmentation(config):
    steps = [RandomCrop(config.crop)] if config.crop else []
    if config.augment:
        steps += [RandomFlip(), RandomRot90()]
    return Compose(steps) if steps else None


def training_set(config, train):
    """The training set as an epoch serves it: checked, and repeated when it is small."""
    if len(train) == 0:
        raise DataError("the training set is empty")
    check_sizes(config, train)
    times = repeats(config, train)
    return Repeat(train, times) if times > 1 else train
