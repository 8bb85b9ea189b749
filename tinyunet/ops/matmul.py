"""Matrix multiply with NumPy's broadcasting rules: C = A @ B.

For 2-D matrices dC/dA = G B^T and dC/dB = A^T G. Batched operands add leading dimensions
(summed back by the engine when they were broadcast); a 1-D operand is treated as a row (left)
or column (right) vector and the added axis is removed again.
"""

from __future__ import annotations

from ..function import Function
from ..tensor import Tensor


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # row vector
        b2 = b[:, None] if b.ndim == 1 else b  # column vector
        g = grad  # restore the axes the 1-D operands lost (column first: grad may be 0-d)
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        grad_a = g @ b2.swapaxes(-1, -2) if ctx.needs_input_grad[0] else None
        grad_b = a2.swapaxes(-1, -2) @ g if ctx.needs_input_grad[1] else None
        if grad_a is not None and a.ndim == 1:
            grad_a = grad_a.reshape(-1, a.shape[0]).sum(axis=0)
        if grad_b is not None and b.ndim == 1:
            grad_b = grad_b.reshape(-1, b.shape[0]).sum(axis=0)
        return grad_a, grad_b


def matmul(a, b):
    """``a @ b``, with a clear error when the inner dimensions differ."""
    sa = a.shape if hasattr(a, "shape") else ()
    sb = b.shape if hasattr(b, "shape") else ()
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got {sa} and {sb}")
    inner_a = sa[-1]
    inner_b = sb[0] if len(sb) == 1 else sb[-2]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul: shapes {tuple(sa)} and {tuple(sb)} do not align: the last dimension of the "
            f"first ({inner_a}) must equal the {'only' if len(sb) == 1 else 'second-to-last'} "
            f"dimension of the second ({inner_b})"
        )
    return MatMul.apply(a, b)


__all__ = ["MatMul", "matmul", "Tensor"]
