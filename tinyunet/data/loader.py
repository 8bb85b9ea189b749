"""Batches from a map-style dataset, reproducible per epoch and resumable mid-epoch.

Everything random is a pure function of ``(seed, epoch)``: the order of the items
(``default_rng((seed, epoch)).permutation``) and each item's augmentation
(``default_rng((seed, epoch, index))``). So epoch 7 is the same whatever happened before, and
saving ``(epoch, batches already served)`` in a checkpoint is enough for a resumed run to see
exactly the batches it would have seen.
"""

from __future__ import annotations

import numpy as np


class DataLoader:
    """Iterate over ``dataset`` in stacked NumPy batches.

    Each batch is a tuple with one array per item entry: ``(images (N, C, H, W),
    masks (N, H, W))``, plus e.g. instance labels ``(N, H, W)`` when items have a third entry.

    An iteration serves the rest of the current epoch, then moves to the next one. Breaking out
    early and iterating again resumes where it stopped; ``set_epoch(e)`` starts epoch ``e``
    from its first batch. ``state_dict()`` / ``load_state_dict()`` save and restore the
    position (epoch, batches served).

    Args:
        dataset: anything with ``__len__`` and ``__getitem__(i) -> (image, mask, ...)``.
        batch_size: items per batch.
        shuffle: a fresh permutation each epoch, drawn from ``(seed, epoch)``.
        seed: seeds the order and the augmentation.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        transform: optional ``t(image, mask, rng) -> (image, mask)`` applied to each item;
            an item with more entries (instance labels, a weight map) hands them to it as a
            tuple of masks, moved together with the image (:mod:`tinyunet.data.augment`).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, transform=None):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.seed, self.drop_last, self.transform = seed, drop_last, transform
        self.epoch = 0
        self.batch = 0                              # batches of `epoch` already served

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration serve epoch ``epoch`` from its first batch."""
        self.epoch, self.batch = int(epoch), 0

    def order(self, epoch: int) -> np.ndarray:
        """The dataset indices of epoch ``epoch``, in the order they are served."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng((self.seed, epoch)).permutation(n)

    def _item(self, index: int):
        item = self.dataset[int(index)]
        if self.transform is None:
            return item
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        if len(item) == 2:
            return self.transform(*item, rng)
        image, masks = self.transform(item[0], tuple(item[1:]), rng)
        return (image, *masks)

    def __iter__(self):
        order = self.order(self.epoch)
        for b in range(self.batch, len(self)):
            items = [self._item(i) for i in order[b * self.batch_size:(b + 1) * self.batch_size]]
            self.batch = b + 1                      # counted as served once it is handed out
            yield _stack(items, order[b * self.batch_size:])
        self.epoch, self.batch = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch, "seed": self.seed,
                "batch_size": self.batch_size, "shuffle": self.shuffle}

    def load_state_dict(self, state: dict) -> None:
        for key in ("batch_size", "shuffle"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(f"DataLoader.load_state_dict: saved {key}={state[key]} but this "
                                 f"loader has {key}={getattr(self, key)}; the batches would differ")
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self.seed = state.get("seed", self.seed)

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.dataset)} items, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch})")


def _stack(items: list, indices) -> tuple:
    """Stack entry k of every item into one array; name the items whose shapes disagree."""
    batch = []
    for k in range(len(items[0])):
        arrays = [np.asarray(item[k]) for item in items]
        shapes = [a.shape for a in arrays]
        if len(set(shapes)) > 1:
            first = shapes[0]
            j = next(j for j, s in enumerate(shapes) if s != first)
            raise ValueError(f"DataLoader: cannot stack entry {k} of a batch: item "
                             f"{indices[0]} has shape {first} but item {indices[j]} has "
                             f"{shapes[j]}")
        batch.append(np.stack(arrays))
    return tuple(batch)
