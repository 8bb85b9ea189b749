"""Scaled dot-product attention: every query position reads a weighted average of the values,
weighted by how well its query matches each key.

With queries Q (L, E), keys K (S, E), values V (S, Ev) and scale s = 1 / sqrt(E)::

    A = s Q K^T           (L, S)   scores: A[l, j] = s <q_l, k_j>
    P = softmax_rows(A)   (L, S)   each row sums to 1: where query l looks
    O = P V               (L, Ev)  output l = sum_j P[l, j] v_j

Self-attention takes Q, K, V all from the same positions (an image's H*W pixels: every pixel
can look at every other, the global context a 3x3 conv only reaches after many layers);
cross-attention takes Q from the image and K, V from another sequence (a prompt's tokens).
Leading dimensions (batch, heads) broadcast, as in ``torch.nn.functional``.

The backward, given G = dL/dO, runs the three steps in reverse::

    dV = P^T G                                (O = P V)
    dP = G V^T
    dA = P * (dP - rowsum(dP * P))            (softmax's Jacobian-vector product)
    dQ = s dA K          dK = s dA^T Q        (A = s Q K^T)

One Function, so the (L, S) matrix P is computed once, kept for the backward, and no graph
of small ops is built; ``attention_reference`` composes the same math from basic Tensor ops,
and the tests hold the two against each other and against PyTorch.

The mask (optional) is PyTorch's ``attn_mask``: boolean (True = may attend; False entries get
score -inf, so weight 0) or float (added to the scores). It is a constant: no gradient.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor


def _masked(scores, mask):
    if mask is None:
        return scores
    if mask.dtype == bool:
        return get_array_module(scores).where(mask, scores, -np.inf)
    return scores + mask


class ScaledDotProductAttention(Function):
    @staticmethod
    def forward(ctx, q, k, v, scale=1.0, mask=None):
        xp = get_array_module(q)
        kT = k.swapaxes(-1, -2)
        A = _masked((q @ kT) * q.dtype.type(scale), mask)
        P = xp.exp(A - A.max(axis=-1, keepdims=True))   # shifted by the row max: no overflow
        P /= P.sum(axis=-1, keepdims=True)
        ctx.save_for_backward(q, k, v, P)
        ctx.scale = scale
        return P @ v

    @staticmethod
    def backward(ctx, grad):
        q, k, v, P = ctx.saved_tensors
        s = q.dtype.type(ctx.scale)
        dV = P.swapaxes(-1, -2) @ grad if ctx.needs_input_grad[2] else None
        dP = grad @ v.swapaxes(-1, -2)
        dA = P * (dP - (dP * P).sum(axis=-1, keepdims=True))
        dQ = (dA @ k) * s if ctx.needs_input_grad[0] else None
        dK = (dA.swapaxes(-1, -2) @ q) * s if ctx.needs_input_grad[1] else None
        return dQ, dK, dV


def _check(q, k, v, attn_mask):
    name = "scaled_dot_product_attention"
    for label, t in (("query", q), ("key", k), ("value", v)):
        if t.ndim < 2:
            raise ValueError(f"{name}: {label} must be (..., length, features), got shape "
                             f"{t.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{name}: query {q.shape} and key {k.shape} must have the same "
                         f"number of features (last dimension): {q.shape[-1]} != {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{name}: key {k.shape} and value {v.shape} must have the same "
                         f"length (second-to-last dimension): {k.shape[-2]} != {v.shape[-2]}")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        if attn_mask is not None:
            np.broadcast_shapes(attn_mask.shape, q.shape[:-1] + (k.shape[-2],))
    except ValueError:
        extra = "" if attn_mask is None else f" and attn_mask {attn_mask.shape}"
        raise ValueError(f"{name}: the leading dimensions of query {q.shape}, key {k.shape}, "
                         f"value {v.shape}{extra} do not broadcast") from None


def scaled_dot_product_attention(query, key, value, attn_mask=None, scale=None) -> Tensor:
    """``softmax(query key^T * scale + mask) value``, as the PyTorch function of the same name
    (without dropout and ``is_causal``). Shapes (..., L, E), (..., S, E), (..., S, Ev) ->
    (..., L, Ev); ``scale`` defaults to 1 / sqrt(E)."""
    q, k, v = (Tensor._lift(t) for t in (query, key, value))
    mask = None if attn_mask is None else get_array_module(attn_mask).asarray(
        attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
    _check(q, k, v, mask)
    if mask is not None and mask.dtype != bool:
        mask = mask.astype(q.dtype)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(q, k, v, scale=scale, mask=mask)


def attention_reference(query, key, value, attn_mask=None, scale=None) -> Tensor:
    """The same attention composed of basic Tensor ops (matmul, softmax, ...), each with its
    own backward: slower and heavier on memory, but obviously the formula. The tests check
    ``scaled_dot_product_attention`` (and its hand-derived backward) against this."""
    q, k, v = (Tensor._lift(t) for t in (query, key, value))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = (q @ k.transpose(-1, -2)) * scale
    if attn_mask is not None:
        mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
        additive = np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask
        scores = scores + additive.astype(scores.dtype)
    return scores.softmax(-1) @ v
