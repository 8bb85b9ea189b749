"""Finite-difference gradient checks, the way ``torch.autograd.gradcheck`` does them.

The numeric derivative is the central difference

    df/dx_k  ~  (f(x + eps e_k) - f(x - eps e_k)) / (2 eps),

whose error is O(eps^2) from truncation plus O(machine-eps / eps) from rounding; in float64
with eps = 1e-6 truncation is ~1e-12 and rounding ~1e-10, far below any real bug. (In
float32 rounding alone is ~1e-1: that is why checks run in float64.) An analytic value ``a``
passes against the numeric ``n`` when ``|a - n| <= atol + rtol |n|``.

* Small problems get the **full Jacobian**: one backward per output element (analytic rows),
  two forwards per input element (numeric columns).
* Larger ones get **random directions** (Chainer's ``check_backward``): for random unit ``u``
  (inputs) and ``v`` (outputs), compare ``<v, J u>`` from the backward pass with
  ``(<v, f(x + eps u)> - <v, f(x - eps u)>) / (2 eps)``: cheap on big tensors.

On failure the message says *where*: which input, which element, analytic vs numeric, and the
relative error ``|a - n| / max(1e-8, |a| + |n|)``.
"""

from __future__ import annotations

import numpy as np

from .grad_mode import enable_grad
from .tensor import Tensor

FULL_JACOBIAN_LIMIT = 20_000  # (output elements) x (input elements) below which J is built


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when an analytic gradient disagrees with the numeric one."""


def relative_error(a, n):
    return np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))


def _differentiable(inputs):
    return [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]


def _check_inputs(inputs):
    checked = _differentiable(inputs)
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True")
    for i in checked:
        # finite differences nudge elements in place, through a flat view of the data
        inputs[i].data = np.ascontiguousarray(inputs[i].data)
        if inputs[i].dtype != np.float64:
            raise ValueError(
                f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 "
                "(float32 rounding, ~1e-7 relative, swamps the finite differences)"
            )
    return checked


def _forward(fn, inputs) -> np.ndarray:
    out = fn(*inputs)
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64)


def _analytic_vjp(fn, inputs, checked, v):
    """Gradients of <v, fn(inputs)> for every checked input, by one backward pass."""
    for i in checked:
        inputs[i].grad = None
    with enable_grad():
        out = fn(*inputs)
        out.backward(v.reshape(out.shape).astype(out.dtype))
    return [
        np.zeros(inputs[i].shape) if inputs[i].grad is None else np.asarray(inputs[i].grad)
        for i in checked
    ]


def _numeric_column(fn, inputs, i, flat_index, eps):
    """d fn / d inputs[i].flat[flat_index], flattened, by central differences."""
    data = inputs[i].data.reshape(-1)  # a view of the input's data
    old = data[flat_index]
    data[flat_index] = old + eps
    plus = _forward(fn, inputs)
    data[flat_index] = old - eps
    minus = _forward(fn, inputs)
    data[flat_index] = old
    return ((plus - minus) / (2 * eps)).reshape(-1)


def jacobians(fn, inputs, eps=1e-6):
    """Analytic and numeric Jacobians ``(out_size, in_size)`` for each checked input."""
    inputs = list(inputs)
    checked = _check_inputs(inputs)
    out_size = _forward(fn, inputs).size
    analytic = [np.zeros((out_size, inputs[i].numel())) for i in checked]
    for j in range(out_size):
        e = np.zeros(out_size)
        e[j] = 1.0
        for rows, g in zip(analytic, _analytic_vjp(fn, inputs, checked, e)):
            rows[j] = g.reshape(-1)
    numeric = []
    for i in checked:
        cols = [_numeric_column(fn, inputs, i, k, eps) for k in range(inputs[i].numel())]
        numeric.append(np.stack(cols, axis=1) if cols else np.zeros((out_size, 0)))
    return checked, analytic, numeric


def gradcheck_report(fn, inputs, eps=1e-6, seed=0):
    """Per-element relative errors of the gradient of ``<v, fn(inputs)>`` for a random ``v``.

    Returns one array per checked input, shaped like that input, so a learner can look at (or
    plot) exactly which elements of a backward are wrong.
    """
    inputs = list(inputs)
    checked = _check_inputs(inputs)
    v = np.random.default_rng(seed).standard_normal(_forward(fn, inputs).size)
    analytic = _analytic_vjp(fn, inputs, checked, v)
    report = []
    for i, a in zip(checked, analytic):
        n = np.array([v @ _numeric_column(fn, inputs, i, k, eps) for k in range(a.size)])
        report.append(relative_error(a.reshape(-1), n).reshape(inputs[i].shape))
    return report


def _fail(message, raise_exception):
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              directions=8, seed=0) -> bool:
    """Check ``fn``'s backward against finite differences; see the module docstring.

    ``fn`` maps the ``inputs`` (a tuple; Tensors with ``requires_grad=True`` are checked, other
    entries are passed through) to one Tensor. Returns True, or raises ``GradcheckError``
    naming the first disagreeing element (returns False with ``raise_exception=False``).
    """
    inputs = list(inputs)
    checked = _check_inputs(inputs)
    out_size = _forward(fn, inputs).size
    in_size = sum(inputs[i].numel() for i in checked)
    if out_size * in_size <= FULL_JACOBIAN_LIMIT:
        _, analytic, numeric = jacobians(fn, inputs, eps)
        for i, a, n in zip(checked, analytic, numeric):
            bad = np.abs(a - n) > atol + rtol * np.abs(n)
            if bad.any():
                j, k = map(int, np.argwhere(bad)[0])
                where = np.unravel_index(k, inputs[i].shape)
                return _fail(
                    f"gradcheck failed for input {i} (shape {inputs[i].shape}) at element "
                    f"{tuple(map(int, where))}, output element {j}: analytic {a[j, k]:.6g}, "
                    f"numeric {n[j, k]:.6g}, relative error {relative_error(a[j, k], n[j, k]):.3g}"
                    f" ({int(bad.sum())} of {bad.size} Jacobian entries disagree)",
                    raise_exception,
                )
        return True
    rng = np.random.default_rng(seed)
    for _ in range(directions):
        v = rng.standard_normal(out_size)
        grads = _analytic_vjp(fn, inputs, checked, v)
        for i, g in zip(checked, grads):
            u = rng.standard_normal(inputs[i].shape)
            u /= np.linalg.norm(u) or 1.0
            analytic = float((g * u).sum())
            data = inputs[i].data
            old = data.copy()
            data += eps * u
            plus = _forward(fn, inputs).reshape(-1) @ v
            data[...] = old - eps * u
            minus = _forward(fn, inputs).reshape(-1) @ v
            data[...] = old
            numeric = (plus - minus) / (2 * eps)
            if abs(analytic - numeric) > atol + rtol * abs(numeric):
                report = gradcheck_report(fn, inputs, eps, seed)[checked.index(i)]
                k = np.unravel_index(int(np.argmax(report)), report.shape)
                return _fail(
                    f"gradcheck failed for input {i} (shape {inputs[i].shape}) along a random "
                    f"direction: analytic {analytic:.6g}, numeric {numeric:.6g}, relative error "
                    f"{relative_error(analytic, numeric):.3g}; the worst element is "
                    f"{tuple(map(int, k))} (relative error {report[k]:.3g})",
                    raise_exception,
                )
    return True
