"""Activations and the softmax family.

relu(x) = max(x, 0)                   relu'(x) = [x > 0]   (a NaN input passes grad on, as torch)
sigmoid(x) = 1 / (1 + e^-x)           sigmoid' = s (1 - s)
tanh'(x) = 1 - tanh(x)^2
silu(x) = x sigmoid(x)                silu' = s (1 + x (1 - s))
leaky_relu(x) = x if x > 0 else a x
softmax(x)_i = e^{x_i} / sum_j e^{x_j}   (computed after subtracting max x: same value, no overflow)
log_softmax(x) = x - logsumexp(x)     d/dx: g - softmax(x) * sum(g)

The signatures are PyTorch's. ``inplace=True`` is accepted and has no effect: tinyunet never
overwrites an input (a backward may still need it), so the result is always a new tensor.
softmax's ``dtype`` casts the input first (to compute a float16 model's softmax in float32).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..backend import get_array_module, kernels
from ..function import Function
from ..tensor import Tensor
from .shape import cast


class ReLU(Function):
    """The loops are kernels (``tinyunet.kernels``: relu, relu_backward), because a U-Net
    spends more time in ReLU than one expects: it touches every activation twice per step."""

    @staticmethod
    def forward(ctx, x):
        y = kernels(x).relu(x)
        ctx.save_for_backward(y)  # y <= 0 exactly where x <= 0: no separate mask to keep
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return kernels(grad, y).relu_backward(grad, y)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
        return get_array_module(x).where(positive, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return get_array_module(grad).where(positive, grad, grad * ctx.slope)


def _sigmoid(x):
    # split by sign so neither branch overflows: e^-x for x >= 0, e^x / (1 + e^x) for x < 0
    xp = get_array_module(x)
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        t = get_array_module(x).tanh(x)
        ctx.save_for_backward(t)
        return t

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensors
        return grad * (1 - t * t)


class SiLU(Function):
    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved_tensors
        return grad * s * (1 + x * (1 - s))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        xp = get_array_module(x)
        if x.size == 0:  # nothing to normalise (and max() of nothing is undefined)
            ctx.save_for_backward(x)
            ctx.dim = dim
            return x.copy()
        e = xp.exp(x - x.max(axis=dim, keepdims=True))
        p = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(p)
        ctx.dim = dim
        return p

    @staticmethod
    def backward(ctx, grad):
        # Jacobian-vector product of softmax: p * (g - <g, p>)
        (p,) = ctx.saved_tensors
        return p * (grad - (grad * p).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        xp = get_array_module(x)
        if x.size == 0:
            ctx.save_for_backward(x)
            ctx.dim = dim
            return x.copy()
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        softmax = get_array_module(out).exp(out)
        return grad - softmax * grad.sum(axis=ctx.dim, keepdims=True)


def relu(input, inplace=False):
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(input, negative_slope=negative_slope)


def sigmoid(input):
    return Sigmoid.apply(input)


def tanh(input):
    return Tanh.apply(input)


def silu(input, inplace=False):
    return SiLU.apply(input)


def _dim(dim, ndim, op):
    """``dim`` as an axis; a 0-d tensor has the one axis -1 == 0, as in PyTorch. ``None`` is
    PyTorch's legacy implicit choice: dim 0 for 0-, 1- and 3-D inputs, else dim 1."""
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1
        warnings.warn(f"{op}: the implicit choice of dim is deprecated (as in PyTorch); pass "
                      f"dim={dim} explicitly", UserWarning, stacklevel=4)
        return dim
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % n


def _prepared(x, dim, dtype, op):
    """x as a Tensor (cast to ``dtype`` first if given, as torch does), a 0-d input as 1-d."""
    x = Tensor._lift(x)
    if dtype is not None:
        x = cast(x, np.dtype(dtype))
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype} (pass "
                        f"dtype=np.float32 to cast it)")
    return x, _dim(dim, x.ndim, op)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(x)_i = e^{x_i} / sum_j e^{x_j}`` along ``dim``; ``dtype`` casts x first."""
    x, axis = _prepared(input, dim, dtype, "softmax")
    if x.ndim == 0:
        return Softmax.apply(x.reshape(1), dim=0).reshape(())
    return Softmax.apply(x, dim=axis)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``log_softmax(x) = x - logsumexp(x)`` along ``dim``; ``dtype`` casts x first."""
    x, axis = _prepared(input, dim, dtype, "log_softmax")
    if x.ndim == 0:
        return LogSoftmax.apply(x.reshape(1), dim=0).reshape(())
    return LogSoftmax.apply(x, dim=axis)
