"""Datasets around datasets: more crops from few images, and the weight map beside each target.

:class:`Repeat` serves each item several times per epoch. With random crops each repeat is a
different window (the loader draws every item's augmentation from ``(seed, epoch, index)``),
so three 256x256 micrographs become as many 64x64 training crops as a batch or an epoch
needs: the U-Net paper's own regime, a handful of annotated images and heavy augmentation.

:class:`WithWeightMaps` appends the U-Net paper's weight map (:mod:`tinyunet.data.weights`)
to each item, computed once per image from its instance labels and kept: random crops, flips
and rotations then move the map with the image (:mod:`tinyunet.data.augment`).
"""

from __future__ import annotations

import numpy as np

from .weights import unet_weight_map


class Repeat:
    """``dataset`` with every item ``times`` times: item i is ``dataset[i % len(dataset)]``."""

    def __init__(self, dataset, times: int):
        if times < 1:
            raise ValueError(f"Repeat: times must be >= 1, got {times}")
        self.dataset, self.times = dataset, int(times)

    def __len__(self) -> int:
        return len(self.dataset) * self.times

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"Repeat: index {i} out of range for {len(self)} items")
        return self.dataset[int(i) % len(self.dataset)]

    def __repr__(self) -> str:
        return f"Repeat({self.dataset!r}, times={self.times})"


class WithWeightMaps:
    """Items ``(image, target, labels)`` become ``(image, target, labels, weight)``.

    ``weight`` is ``unet_weight_map`` of the objects the target keeps apart — the instance
    labels where ``target > 0`` — so a target with a background line between touching
    objects (:func:`tinyunet.data.targets.separated`) gets its peak weight on that line.
    Computed on first use, then cached per item.
    """

    def __init__(self, dataset, w0: float = 10.0, sigma: float = 5.0):
        self.dataset, self.w0, self.sigma = dataset, float(w0), float(sigma)
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def sample_name(self, i: int) -> str:
        name = getattr(self.dataset, "sample_name", None)
        return name(i) if name else f"image {i}"

    def weight_map(self, target, labels) -> np.ndarray:
        kept = np.where(np.asarray(target) > 0, labels, 0).astype(np.int32)
        return unet_weight_map(kept, w0=self.w0, sigma=self.sigma)

    def __getitem__(self, i: int):
        item = self.dataset[i]
        if len(item) < 3:
            raise ValueError("WithWeightMaps: items must be (image, target, instance labels); "
                             f"got {len(item)} entries")
        i = int(i) % len(self)
        if i not in self._cache:
            self._cache[i] = self.weight_map(item[1], item[2])
        return (*item[:3], self._cache[i])

    def __repr__(self) -> str:
        return f"WithWeightMaps({self.dataset!r}, w0={self.w0}, sigma={self.sigma})"
