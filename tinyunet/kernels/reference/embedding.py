"""Embedding lookup, as plain loops: a gather forward, a scatter-add backward.

An embedding table W (V, D) holds one row per token. Looking up indices i_1 .. i_M copies rows:

    y[m, d] = W[i_m, d]

Each y[m] depends on one row of W only, so the gradient flows back to that row; a token that
appears k times collects k gradients (the ``+=``):

    dL/dW[v, d] = sum over m with i_m = v of dL/dy[m, d]

The op layer (``tinyunet.ops.embedding``) flattens the indices to (M,) and the outputs to
(M, D) before calling, and checks every index lies in [0, V).
"""

import numpy as np


def embedding(weight, indices):
    """y[m] = weight[indices[m]]: weight (V, D), indices (M,) int64 -> y (M, D)."""
    M, D = indices.shape[0], weight.shape[1]
    y = np.empty((M, D), dtype=weight.dtype)
    for m in range(M):
        for d in range(D):
            y[m, d] = weight[indices[m], d]
    return y


def embedding_backward(grad_y, indices, num_embeddings):
    """grad_w[indices[m]] += grad_y[m]: grad_y (M, D), indices (M,) -> grad_w (V, D)."""
    M, D = grad_y.shape
    grad_w = np.zeros((num_embeddings, D), dtype=grad_y.dtype)
    for m in range(M):
        for d in range(D):
            grad_w[indices[m], d] += grad_y[m, d]
    return grad_w
