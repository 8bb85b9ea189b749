"""Broadcasting, undone: the gradient of an input that NumPy broadcast to a larger shape."""

from __future__ import annotations

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of size 1, so each
    copy's gradient must be added back into the one element it came from.
    """
    # BEGIN SOLUTION task=1.2 hint="sum over the new leading axes, then over the axes that were 1"
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)  # new leading axes, then axes that were size 1
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)  # keepdims: an array, never a NumPy scalar
    return grad.reshape(shape)
    # END SOLUTION
