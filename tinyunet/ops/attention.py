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

The options are PyTorch's. ``attn_mask`` is boolean (True = may attend; False entries get
score -inf, so weight 0) or float (added to the scores, and differentiable: dL/dmask = dA).
``is_causal=True`` masks with the lower triangle, query l seeing keys 0..l (``tril(ones(L,
S))``, top-left aligned). ``dropout_p`` zeroes each weight of P with that probability and
scales the rest by 1 / (1 - p) (the output is then random; the backward uses the same mask).
``enable_gqa=True`` lets H_q query heads share H_k = H_q / r key and value heads (grouped-query
attention): each K, V head is repeated r times along dim -3, and its gradient is the sum of
its r copies' gradients.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..random import generator
from ..tensor import Tensor


def _masked(scores, mask):
    if mask is None:
        return scores
    return get_array_module(scores).where(mask, scores, -np.inf)


class ScaledDotProductAttention(Function):
    """Inputs (q, k, v) or (q, k, v, additive_mask); ``mask`` (keyword) is a boolean mask,
    ``repeats`` the GQA repeat count r, ``dropout_p`` the dropout probability."""

    @staticmethod
    def forward(ctx, q, k, v, additive=None, scale=1.0, mask=None, dropout_p=0.0, repeats=1):
        xp = get_array_module(q)
        if repeats > 1:  # grouped-query attention: each K, V head serves r query heads
            k, v = xp.repeat(k, repeats, axis=-3), xp.repeat(v, repeats, axis=-3)
        A = (q @ k.swapaxes(-1, -2)) * q.dtype.type(scale)
        A = _masked(A if additive is None else A + additive, mask)
        P = xp.exp(A - A.max(axis=-1, keepdims=True))   # shifted by the row max: no overflow
        P /= P.sum(axis=-1, keepdims=True)
        keep = None
        if dropout_p > 0:
            keep = xp.asarray(generator().random(P.shape) >= dropout_p).astype(q.dtype)
            keep *= q.dtype.type(0.0 if dropout_p == 1 else 1.0 / (1.0 - dropout_p))
        ctx.save_for_backward(q, k, v, P, keep)
        ctx.scale, ctx.repeats = scale, repeats
        return (P if keep is None else P * keep) @ v

    @staticmethod
    def backward(ctx, grad):
        q, k, v, P, keep = ctx.saved_tensors
        s = q.dtype.type(ctx.scale)
        dropped = P if keep is None else P * keep
        dV = dropped.swapaxes(-1, -2) @ grad if ctx.needs_input_grad[2] else None
        dP = grad @ v.swapaxes(-1, -2)
        if keep is not None:
            dP = dP * keep
        dA = P * (dP - (dP * P).sum(axis=-1, keepdims=True))
        dQ = (dA @ k) * s if ctx.needs_input_grad[0] else None
        dK = (dA.swapaxes(-1, -2) @ q) * s if ctx.needs_input_grad[1] else None
        if ctx.repeats > 1:  # each shared head collects the gradients of its r copies
            dK, dV = (None if d is None else _fold_heads(d, ctx.repeats) for d in (dK, dV))
        grads = (dQ, dK, dV)
        return grads + (dA,) if len(ctx.needs_input_grad) == 4 else grads


def _fold_heads(d, r):
    """(..., H_k * r, S, E) -> (..., H_k, S, E): the sum over each head's r copies."""
    return d.reshape(d.shape[:-3] + (d.shape[-3] // r, r) + d.shape[-2:]).sum(axis=-3)


def _batch(t, repeats):
    """The leading (batch, heads) dims of a key or value, its heads repeated ``repeats`` times."""
    return t.shape[:-3] + (t.shape[-3] * repeats,) if t.ndim >= 3 else t.shape[:-2]


def _check(q, k, v, attn_mask, enable_gqa):
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
    repeats = 1
    if enable_gqa and min(q.ndim, k.ndim, v.ndim) >= 3 and q.shape[-3] != k.shape[-3]:
        heads_q, heads_k = q.shape[-3], k.shape[-3]
        if heads_q % heads_k or v.shape[-3] != heads_k:
            raise ValueError(f"{name}: with enable_gqa the query's {heads_q} heads (dim -3) "
                             f"must be a multiple of the key's and value's, got query "
                             f"{q.shape}, key {k.shape}, value {v.shape}")
        repeats = heads_q // heads_k
    try:
        np.broadcast_shapes(q.shape[:-2], _batch(k, repeats), _batch(v, repeats))
        if attn_mask is not None:
            np.broadcast_shapes(attn_mask.shape, q.shape[:-1] + (k.shape[-2],))
    except ValueError:
        extra = "" if attn_mask is None else f" and attn_mask {attn_mask.shape}"
        raise ValueError(f"{name}: the leading dimensions of query {q.shape}, key {k.shape}, "
                         f"value {v.shape}{extra} do not broadcast (heads differ: pass "
                         f"enable_gqa=True to share key/value heads)") from None
    return repeats


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False) -> Tensor:
    """``softmax(query key^T * scale + mask) value``, as the PyTorch function of the same name
    and in its argument order. Shapes (..., L, E), (..., S, E), (..., S, Ev) -> (..., L, Ev);
    ``scale`` defaults to 1 / sqrt(E); see the module docstring for the mask, causal,
    dropout and grouped-query options."""
    name = "scaled_dot_product_attention"
    q, k, v = (Tensor._lift(t) for t in (query, key, value))
    mask = attn_mask if attn_mask is None or isinstance(attn_mask, Tensor) else Tensor(
        get_array_module(attn_mask).asarray(attn_mask))
    repeats = _check(q, k, v, mask, enable_gqa)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1], got {dropout_p}")
    if is_causal:
        if mask is not None:
            raise ValueError(f"{name}: give attn_mask or is_causal=True, not both")
        L, S = q.shape[-2], k.shape[-2]
        xp = get_array_module(q.data)
        mask = Tensor(xp.tril(xp.ones((L, S), dtype=bool)))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    options = dict(scale=scale, dropout_p=float(dropout_p), repeats=repeats)
    if mask is not None and mask.dtype == bool:
        return ScaledDotProductAttention.apply(q, k, v, mask=mask.data, **options)
    if mask is not None:  # additive: a fourth, differentiable input
        return ScaledDotProductAttention.apply(q, k, v, mask if mask.dtype == q.dtype else
                                               mask.to(q.dtype), **options)
    return ScaledDotProductAttention.apply(q, k, v, **options)


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
