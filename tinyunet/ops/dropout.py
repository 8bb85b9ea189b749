"""Dropout: zero each element with probability p while training, scale the survivors.

    mask_i = 1 / (1 - p)  with probability 1 - p,  else 0        y = x * mask

The survivors are scaled by 1 / (1 - p) ("inverted" dropout) so that E[y] = x: the network
sees the same expected activations in training and at test time, where dropout is the
identity. The backward is the same mask: dL/dx = dL/dy * mask. Masks are drawn from
``tinyunet.random.generator()``, so ``tu.manual_seed`` makes them repeatable.
"""

from __future__ import annotations

from ..backend import get_array_module
from ..function import Function
from ..random import generator
from ..tensor import Tensor


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p=0.5):
        xp = get_array_module(x)
        keep = xp.asarray(generator().random(x.shape) >= p)
        scale = 0.0 if p == 1 else 1.0 / (1.0 - p)  # p = 1 drops everything
        mask = keep.astype(x.dtype) * x.dtype.type(scale)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask


def dropout(input, p=0.5, training=True, inplace=False) -> Tensor:
    """``torch.nn.functional.dropout``: random zeros and 1/(1-p) scaling in training, else x.

    ``inplace`` is accepted and has no effect: the result is always a new tensor (the
    backward needs the mask, never the overwritten input)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    x = Tensor._lift(input)
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=float(p))
