"""Embeddings: a learned table looked up by integer index, and the fixed sinusoidal code of a
diffusion timestep.

``embedding(indices, weight)``: weight W (V, D) has one row per token; the output puts row
W[i] wherever the input holds index i, so indices (*) give (*, D)::

    y[..., d] = W[i[...], d]            dL/dW[v] = sum of dL/dy over every place where i = v

The forward is a gather, the backward a scatter-add (the kernels in
``tinyunet/kernels/*/embedding.py``). ``padding_idx`` marks a row that receives no gradient,
as in PyTorch (a padding token's vector stays what it was). ``max_norm`` renormalises, in
place and before the lookup, every looked-up row whose ``norm_type``-norm exceeds it:
W[v] *= max_norm / (||W[v]|| + 1e-7). ``scale_grad_by_freq`` divides each row's gradient by
how often its index occurs in the batch (so frequent tokens do not dominate the update).

``timestep_embedding(t, dim)``: the Transformer's position code applied to the timestep, which
tells a diffusion U-Net how noisy its input is. With half = dim // 2 frequencies spaced
geometrically from 1 down to 1 / max_period,

    w_j = max_period^(-j / half),   j = 0 .. half - 1
    e(t) = [sin(t w_0), ..., sin(t w_{half-1}), cos(t w_0), ..., cos(t w_{half-1})]

Nearby timesteps get similar codes (the slow frequencies) yet every step is distinct (the fast
ones), and a following MLP can read "how far along" from it easily.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from .. import backend
from ..function import Function
from ..tensor import Tensor


def _kernels(array):
    """The embedding kernels of the selected CPU set (reference loops or numba)."""
    if backend.is_gpu_array(array):
        raise NotImplementedError("embedding: there is no GPU kernel yet; keep the embedding "
                                  "table on the CPU")
    return importlib.import_module(backend.KERNEL_SETS[backend.get_kernel_name()] + ".embedding")


class Embedding(Function):
    """y = W[indices] (a gather);  dL/dW = scatter-add of dL/dy into the looked-up rows."""

    @staticmethod
    def forward(ctx, weight, indices=None, padding_idx=None, scale_grad_by_freq=False):
        flat = indices.reshape(-1)
        ctx.flat, ctx.num_embeddings, ctx.padding_idx = flat, weight.shape[0], padding_idx
        ctx.scale_grad_by_freq = scale_grad_by_freq
        y = _kernels(weight).embedding(np.ascontiguousarray(weight), flat)
        return y.reshape(indices.shape + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad):
        rows = np.ascontiguousarray(grad).reshape(-1, grad.shape[-1])   # (M, D)
        grad_weight = _kernels(grad).embedding_backward(rows, ctx.flat, ctx.num_embeddings)
        if ctx.scale_grad_by_freq:  # each row's gradient over its index's count in the batch
            counts = np.bincount(ctx.flat, minlength=ctx.num_embeddings)
            grad_weight /= np.maximum(counts, 1)[:, None].astype(grad_weight.dtype)
        if ctx.padding_idx is not None:
            grad_weight[ctx.padding_idx] = 0
        return (grad_weight,)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,  # noqa: A002
              scale_grad_by_freq=False, sparse=False) -> Tensor:
    """Look up rows of ``weight`` (V, D) at integer ``input`` (*), as
    ``torch.nn.functional.embedding``; returns (*, D). See the module docstring for
    ``padding_idx``, ``max_norm``/``norm_type`` and ``scale_grad_by_freq``; ``sparse=True``
    (sparse gradient tensors) is refused with NotImplementedError."""
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (tinyunet has no "
                                  "sparse tensors); the gradient is a dense (V, D) array")
    indices = np.asarray(input.data if isinstance(input, Tensor) else input)
    weight = Tensor._lift(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), got shape "
                         f"{weight.shape}")
    V = weight.shape[0]
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype} "
                        f"(shape {indices.shape})")
    if indices.size and (indices.min() < 0 or indices.max() >= V):
        bad = indices[(indices < 0) | (indices >= V)].reshape(-1)[0]
        raise IndexError(f"embedding: index {bad} is out of range for a table of {V} rows "
                         f"(weight {weight.shape}); indices must lie in [0, {V})")
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for a "
                             f"table of {V} rows")
        padding_idx %= V
    if max_norm is not None:
        _renorm_(weight.data, np.unique(indices), float(max_norm), float(norm_type))
    return Embedding.apply(weight, indices=indices.astype(np.int64), padding_idx=padding_idx,
                           scale_grad_by_freq=bool(scale_grad_by_freq))


def _renorm_(table, rows, max_norm, norm_type):
    """In place, as PyTorch's embedding_renorm_: rows longer than max_norm are shrunk to it."""
    norms = np.linalg.norm(table[rows], ord=norm_type, axis=1)
    too_long = norms > max_norm
    table[rows[too_long]] *= (max_norm / (norms[too_long] + 1e-7))[:, None].astype(table.dtype)


def timestep_embedding(t, dim: int, max_period: float = 10000.0, dtype=np.float32) -> Tensor:
    """The sinusoidal code e(t) (see the module docstring) of timesteps ``t`` (N,): (N, dim).

    The timesteps are integers (or floats) and nothing upstream of them is learned, so the
    result carries no gradient. An odd ``dim`` gets one trailing zero column.
    """
    t = np.asarray(t.data if isinstance(t, Tensor) else t, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"timestep_embedding: expected timesteps of shape (N,), got shape "
                         f"{t.shape}")
    if dim < 2:
        raise ValueError(f"timestep_embedding: dim must be at least 2, got {dim}")
    half = dim // 2
    w = np.exp(-math.log(max_period) * np.arange(half) / half)   # w_j = max_period^(-j/half)
    angles = t[:, None] * w[None, :]                              # (N, half)
    code = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    if dim % 2:
        code = np.concatenate([code, np.zeros((len(t), 1))], axis=1)
    return Tensor(code.astype(dtype))
