"""Tensor: an n-dimensional array that remembers how it was made.

``Tensor.data`` is a plain ndarray (NumPy, or CuPy on a GPU); ``Tensor.grad`` is an array of
the same shape or None. Every operator below is a thin call to a ``Function`` in
``tinyunet.ops``, whose forward and backward sit side by side; the engine that walks the graph
backwards is ``tinyunet.autograd``.

Dtypes follow the teaching default of float32 (what the fast kernels and BLAS want), but an
array given as float64 stays float64, which is what gradient checks need.
"""

from __future__ import annotations

import numpy as np

from .backend import device_of, get_array_module, normalize_device, to_device

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats: what a tensor may hold


def _as_array(data, dtype):
    xp = get_array_module(data)
    if dtype is not None:
        array = xp.asarray(data, dtype=dtype)
    elif isinstance(data, np.ndarray) or xp is not np:
        array = data
    elif isinstance(data, np.generic):  # a NumPy scalar (what a full reduction returns)
        array = np.asarray(data)
    else:
        try:
            array = np.asarray(data)
        except ValueError:  # a ragged nest of lists: name it instead of NumPy's complaint
            raise ValueError("Tensor: nested sequences must be rectangular (every row of one "
                             "length), as for torch.tensor") from None
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
    if array.dtype.kind not in NUMERIC_KINDS:  # torch.tensor(["a"]) is a TypeError too
        raise TypeError(f"Tensor: data must be numeric (bool, integer or floating point), got "
                        f"dtype {array.dtype} (shape {array.shape}); strings, objects and "
                        f"complex numbers cannot be tensors")
    return array


class Tensor:
    """``Tensor(data, requires_grad=False, dtype=None, device=None)``; see the module docstring.

    ``device`` is ``'cpu'`` (NumPy) or ``'cuda'`` (CuPy); ``None`` leaves the data where it is.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "__weakref__")
    __array_priority__ = 1000  # ndarray + Tensor must call Tensor.__radd__, not broadcast over it

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        data = _as_array(data, dtype)
        self.data = data if device is None else to_device(data, device)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None

    @staticmethod
    def _lift(x, like=()) -> Tensor:
        """Make an op input a Tensor; Python numbers take the dtype of the Tensors beside them."""
        if isinstance(x, Tensor):
            return x
        if isinstance(x, (int, float, bool)):
            dtype = next((t.data.dtype for t in like if isinstance(t, Tensor)), np.float32)
            if isinstance(x, float) and dtype.kind != "f":
                dtype = np.dtype(np.float32)  # int tensor * 2.5 is a float result, as in torch
            xp = next((get_array_module(t.data) for t in like if isinstance(t, Tensor)), np)
            return Tensor(xp.asarray(x, dtype=dtype))
        return Tensor(x)

    # ----- array-like attributes ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        """``'cpu'`` or ``'cuda'``: where the data lives."""
        return device_of(self.data)

    def to(self, target) -> Tensor:
        """A copy on another device (``'cpu'``/``'cuda'``) or with another float dtype.

        A dtype change is differentiable, as in PyTorch. Unlike PyTorch, a device move returns a
        new leaf: gradients do not flow back across devices.
        """
        if isinstance(target, str):
            if device_of(self.data) == normalize_device(target):
                return self
            return Tensor(to_device(self.data, target), requires_grad=self.requires_grad)
        from .ops import shape

        return shape.cast(self, target)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    def contiguous(self) -> Tensor:
        """Itself: the ops make their arrays contiguous where a kernel needs it."""
        return self

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (the gradient flows back unchanged)."""
        from .ops import shape

        return shape.cast(self, self.dtype)

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied off the GPU when needed)."""
        return self.data.get() if hasattr(self.data, "get") else self.data

    def item(self) -> float:
        return self.data.item()

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} elements is "
                               "ambiguous; use .any() or .all() on .data")
        return bool(self.data.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.requires_grad = flag
        return self

    def float(self) -> Tensor:
        from .ops import shape

        return shape.cast(self, np.float32)

    def double(self) -> Tensor:
        from .ops import shape

        return shape.cast(self, np.float64)

    def long(self) -> Tensor:
        return Tensor(self.data.astype(np.int64))

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._node is not None:
            extra = f", grad_fn=<{self._node.fn.__name__}>"
        return f"tensor({body}, dtype={self.dtype}{extra})"

    # ----- autograd -------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into every leaf that requires grad.

        ``grad`` is dL/d(self); it may be omitted only for a single-element tensor (a loss).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the graph had "
                "requires_grad=True (or it was built under no_grad())"
            )
        xp = get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a single-element tensor (a loss), but "
                    f"this tensor has shape {self.shape}; pass grad of that shape explicitly"
                )
            grad = xp.ones_like(self.data)
        else:
            grad = xp.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): grad has shape {grad.shape} but the tensor has shape "
                    f"{self.shape}"
                )
        from . import autograd  # the engine: like the operators below, a method's own import

        autograd.backward(self, grad, retain_graph=retain_graph)

    def zero_grad(self) -> None:
        self.grad = None

    # ----- operators (each a Function in tinyunet.ops) --------------------------------------
    def __add__(self, other):
        return _math.add(self, other)

    def __radd__(self, other):
        return _math.add(other, self)

    def __sub__(self, other):
        return _math.sub(self, other)

    def __rsub__(self, other):
        return _math.sub(other, self)

    def __mul__(self, other):
        return _math.mul(self, other)

    def __rmul__(self, other):
        return _math.mul(other, self)

    def __truediv__(self, other):
        return _math.div(self, other)

    def __rtruediv__(self, other):
        return _math.div(other, self)

    def __pow__(self, other):
        return _math.pow(self, other)

    def __rpow__(self, other):
        return _math.pow(other, self)

    def __matmul__(self, other):
        return _matmul.matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul.matmul(other, self)

    def __neg__(self):
        return _math.neg(self)

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    # comparisons give boolean tensors and carry no gradient
    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(op(self.data, other))

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    def __eq__(self, other):  # noqa: D105  (elementwise, as in PyTorch)
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    __hash__ = object.__hash__

    # ----- methods --------------------------------------------------------------------------
    def exp(self):
        return _math.exp(self)

    def log(self):
        return _math.log(self)

    def sqrt(self):
        return _math.sqrt(self)

    def abs(self):
        return _math.abs(self)

    def clip(self, min=None, max=None):  # noqa: A002  (PyTorch's names)
        return _math.clip(self, min, max)

    clamp = clip

    def relu(self):
        return _act.relu(self)

    def sigmoid(self):
        return _act.sigmoid(self)

    def tanh(self):
        return _act.tanh(self)

    def softmax(self, dim=None, dtype=None):
        return _act.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim=None, dtype=None):
        return _act.log_softmax(self, dim, dtype=dtype)

    def sum(self, dim=None, keepdim=False, *, dtype=None):
        return _reduce.sum(self if dtype is None else _shape.cast(self, dtype), dim, keepdim)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        return _reduce.mean(self if dtype is None else _shape.cast(self, dtype), dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return _reduce.max(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return _reduce.amax(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return Tensor(_reduce.argmax_array(self.data, dim, keepdim))

    def reshape(self, *shape):
        return _shape.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        return _shape.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return _shape.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return _shape.permute(self, *dims)

    def unsqueeze(self, dim):
        return _shape.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return _shape.squeeze(self, dim)

    @property
    def T(self):  # noqa: N802
        return _shape.permute(self, *reversed(range(self.ndim)))


# The ops import Tensor, so they are imported after it is defined.
from .ops import activation as _act  # noqa: E402
from .ops import math as _math  # noqa: E402
from .ops import matmul as _matmul  # noqa: E402
from .ops import reduce as _reduce  # noqa: E402
from .ops import shape as _shape  # noqa: E402
