"""What the experiments share: their result type, settings, data, batches and figure setup.

Each experiment is a function ``name(seed=0, full=False, **settings) -> Outcome``. It measures,
returns its numbers (``Outcome.numbers``, what ``NAME.json`` holds) and a function that draws
them (``Outcome.draw() -> matplotlib Figure``, what ``NAME.png`` shows). The training loops are
written out in each experiment, not hidden here: they are part of what a reader should see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import random as tu_random
from ..data import SyntheticCells


@dataclass
class Outcome:
    """What one experiment measured: JSON-ready ``numbers`` and ``draw()``, its figure."""

    numbers: dict
    draw: Callable = field(repr=False)


class UnknownSetting(TypeError):
    """A setting the experiment does not have (a TypeError, like an unknown keyword)."""


def choose_settings(name: str, default: dict, full_settings: dict, full: bool,
                    overrides: dict) -> dict:
    """The default settings (fast), or with ``full`` the longer ones, then ``overrides``;
    an override that the experiment does not know is an error that lists the known ones."""
    unknown = sorted(set(overrides) - set(default))
    if unknown:
        raise UnknownSetting(f"{name}: unknown setting(s) {unknown}; the settings are "
                        f"{sorted(default)}")
    return {**default, **(full_settings if full else {}), **overrides}


def seed_everything(seed: int) -> np.random.Generator:
    """Seed tinyunet's generator (initial weights) and return a NumPy one for the rest."""
    tu_random.manual_seed(seed)
    return np.random.default_rng(seed)


def cells(n: int, size: int, seed: int, foreground=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic cell images and masks, stacked: (n, 1, S, S) float32, (n, S, S) int64."""
    data = SyntheticCells(n, size=size, seed=seed, foreground=foreground)
    images, masks = zip(*(data[i] for i in range(n)))
    return np.stack(images), np.stack(masks)


def batches(images: np.ndarray, masks: np.ndarray, batch_size: int, seed: int):
    """Endless (images, masks) batches: a fresh shuffle of the whole set each epoch."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            pick = order[start:start + batch_size]
            yield images[pick], masks[pick]


class Stopwatch:
    """``seconds`` since creation: each experiment records how long it ran."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 2)


def jsonable(value):
    """NumPy scalars and arrays (nested in dicts, lists, tuples) as plain Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return float(f"{value:.6g}")  # six significant digits: enough, and readable
    return value


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
