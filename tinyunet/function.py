"""Function: one differentiable operation, its forward and its backward side by side.

Every op in tinyunet is written the same way::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):              # arrays in, array out
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):             # dL/dout in, one dL/dinput per input out
            a, b = ctx.saved_tensors
            return grad * b, grad * a

    c = Mul.apply(x, y)                      # Tensors (or arrays) in, Tensor out

Positional arguments of ``apply`` are the differentiable inputs (Tensors, arrays or numbers);
keyword arguments are hyper-parameters (stride, dim, ...) passed through to ``forward`` and
never differentiated. ``backward`` returns one gradient per positional input, ``None`` where
an input needs none (``ctx.needs_input_grad[i]`` says which do). Broadcasting is undone by the
engine: a backward may return a gradient in the broadcast shape and the engine sums it back to
the input's shape.
"""

from __future__ import annotations

import numpy as np

from . import autograd
from .tensor import Tensor


class Context:
    """What a forward leaves for its backward: saved arrays and plain attributes."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays


class Function:
    """Base class of every differentiable op. Subclass, write ``forward`` and ``backward``."""

    @staticmethod
    def forward(ctx: Context, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **kwargs) -> Tensor:
        tensors = tuple(Tensor._lift(x, like=inputs) for x in inputs)
        _check_same_device(cls, tensors)
        track = autograd.is_grad_enabled() and any(t.requires_grad for t in tensors)
        ctx = Context(tuple(t.requires_grad for t in tensors) if track else (False,) * len(tensors))
        out = cls.forward(ctx, *(t.data for t in tensors), **kwargs)
        result = Tensor(out, requires_grad=track)
        if track:
            result._node = autograd.Node(cls, ctx, tensors)
        return result


def _check_same_device(fn, tensors) -> None:
    """One op, one device: mixing a CPU and a GPU array would fail deep inside NumPy/CuPy."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        where = ", ".join(f"input {i} {t.shape} on {t.device}" for i, t in enumerate(tensors))
        raise RuntimeError(
            f"{fn.__name__}: expected all inputs on one device, got {where}; "
            "move them with .to('cuda') or .cpu()"
        )


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of size 1, so each
    copy's gradient must be added back into the one element it came from.
    """
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)  # new leading axes, then axes that were size 1
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)  # keepdims: an array, never a NumPy scalar
    return grad.reshape(shape)
