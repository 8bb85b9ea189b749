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
the input's shape (``broadcast.unbroadcast``).
"""

from __future__ import annotations

from .grad_mode import is_grad_enabled
from .tensor import Tensor


class Node:
    """One recorded op application, what ``autograd.backward`` walks: the ``Function`` class,
    its ``ctx``, its input Tensors."""

    __slots__ = ("fn", "ctx", "inputs")

    def __init__(self, fn, ctx, inputs):
        self.fn, self.ctx, self.inputs = fn, ctx, inputs


class Context:
    """What a forward leaves for its backward: saved arrays and plain attributes.

    ``last_use`` is set by the engine: True when this backward is the last through the graph
    (no ``retain_graph``), so it may drop a saved array from ``saved_tensors`` once it has read
    it, and let the memory go before it allocates its results."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()
        self.last_use = False

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
        track = is_grad_enabled() and any(t.requires_grad for t in tensors)
        ctx = Context(tuple(t.requires_grad for t in tensors) if track else (False,) * len(tensors))
        out = cls.forward(ctx, *(t.data for t in tensors), **kwargs)
        result = Tensor(out, requires_grad=track)
        if track:
            result._node = Node(cls, ctx, tensors)
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
