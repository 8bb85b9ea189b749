"""Embedding lookup, fast: the same gather and scatter-add as
``tinyunet.kernels.reference.embedding`` (read that file for the math), compiled by numba.

Both loops are serial on purpose. A lookup moves M * D numbers (a batch of prompts: a few
thousand), far less work than waking a pool of threads costs (milliseconds on a busy machine),
so ``prange`` would only slow them down. The scatter-add is also where a parallel version
would need care: two rows m, m' with the same index add into the same row of grad_w, a race
if they ran on different threads (the fix would be to split the work by columns d instead).
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _gather(weight, indices, y):
    for m in range(indices.shape[0]):
        y[m, :] = weight[indices[m], :]


@njit(cache=True)
def _scatter_add(grad_y, indices, grad_w):
    for m in range(grad_y.shape[0]):
        grad_w[indices[m], :] += grad_y[m, :]


def embedding(weight, indices):
    """y[m] = weight[indices[m]]: weight (V, D), indices (M,) int64 -> y (M, D)."""
    y = np.empty((indices.shape[0], weight.shape[1]), dtype=weight.dtype)
    _gather(np.ascontiguousarray(weight), np.ascontiguousarray(indices, dtype=np.int64), y)
    return y


def embedding_backward(grad_y, indices, num_embeddings):
    """grad_w[indices[m]] += grad_y[m]: grad_y (M, D), indices (M,) -> grad_w (V, D)."""
    grad_w = np.zeros((num_embeddings, grad_y.shape[1]), dtype=grad_y.dtype)
    _scatter_add(np.ascontiguousarray(grad_y), np.ascontiguousarray(indices, dtype=np.int64),
                 grad_w)
    return grad_w
