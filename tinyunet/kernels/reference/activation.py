"""ReLU, the definition: whole-array NumPy, any shape.

    relu(x) = max(x, 0)                                    NaN stays NaN, as in PyTorch
    relu_backward(grad, y) = 0 where y <= 0, else grad     y = relu(x), the forward's output

The backward needs only the output: y <= 0 exactly where x <= 0. It selects rather than
multiplies by a mask, so a NaN gradient arriving at a zeroed unit stays 0, and a unit whose
input was NaN passes its gradient on (PyTorch's ``threshold_backward`` does both).
"""

from __future__ import annotations

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def relu_backward(grad, y):
    return np.where(y <= 0, 0, grad).astype(grad.dtype, copy=False)
