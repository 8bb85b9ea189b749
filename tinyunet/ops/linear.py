"""The affine map of a fully connected layer: y = x W^T + b.

x is (*, in_features), W is (out_features, in_features) (PyTorch's layout: one row per output),
b is (out_features,). Writing X for x flattened to (rows, in) and G for dL/dy flattened to
(rows, out), the three gradients are matrix products::

    dL/dx = G W            dL/dW = G^T X            dL/db = sum over rows of G
"""

from __future__ import annotations

from ..function import Function
from ..tensor import Tensor


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = x @ weight.T
        return y if bias is None else y + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows = grad.reshape(-1, grad.shape[-1])  # G: (rows, out)
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_w = rows.T @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        if not ctx.has_bias:
            return grad_x, grad_w
        return grad_x, grad_w, rows.sum(axis=0) if ctx.needs_input_grad[2] else None


def linear(input, weight, bias=None) -> Tensor:
    """``y = x @ weight.T + bias``, as ``torch.nn.functional.linear``."""
    x, weight = Tensor._lift(input), Tensor._lift(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be (out_features, in_features), got shape "
                         f"{weight.shape}")
    out_features, in_features = weight.shape
    if x.ndim < 1 or x.shape[-1] != in_features:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features (its last dimension) but weight {weight.shape} expects "
                         f"{in_features}")
    if bias is None:
        return Linear.apply(x, weight)
    bias = Tensor._lift(bias)
    if bias.shape != (out_features,):
        raise ValueError(f"linear: bias has shape {bias.shape} but weight {weight.shape} has "
                         f"{out_features} outputs, so it must be ({out_features},)")
    return Linear.apply(x, weight, bias)
