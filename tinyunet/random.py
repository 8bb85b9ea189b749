"""One seeded random generator for everything tinyunet draws: initial weights, dropout masks,
shuffling defaults. ``tu.manual_seed(n)`` makes a run repeatable."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (and return it), like ``torch.manual_seed``."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    """The global generator; draw from it, never from ``np.random`` directly."""
    return _generator


def get_rng_state() -> dict:
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    _generator.bit_generator.state = state
