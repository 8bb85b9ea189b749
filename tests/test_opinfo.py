"""Acceptance: PyTorch's own sample inputs (OpInfo) for every op ``tinyunet.functional`` exports.

``torch.testing._internal.common_methods_invocations.op_db`` is the list PyTorch tests its own
ops with: for each op, sample calls that walk its argument list (groups, dilation, ceil_mode,
return_indices, every interpolate mode, probability targets, empty batches, ...). Each sample
is converted (torch tensors become tinyunet Tensors, torch dtypes NumPy dtypes) and called on
tinyunet's op of the same name. Every sample must either

* give torch's result: same shape, dtype and values, forward and (where torch can
  differentiate) backward for every input that requires grad, and the same in-place state
  afterwards (batch norm's running statistics); a random op (dropout) is held to its law
  instead of to torch's random draw; or
* be refused with ``NotImplementedError`` naming one of the op's arguments.

Anything else -- a TypeError about an unexpected keyword, an error from inside NumPy, a wrong
number -- fails the test, and all failures are listed at once. Float32 and float64, at most
``CAP`` samples per op variant (spread over its list), so the walk takes seconds.
``test_the_walk_exercises_every_op`` states how many samples ran and which arguments were
refused; run with ``-s`` to see the table.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.functional as F

CAP = 24
DTYPES = ("float32", "float64")
# exported, but not torch.nn.functional ops: no OpInfo to walk (tested in their own files)
NOT_IN_TORCH = {"center_crop", "conv2d_output_size", "conv_transpose2d_output_size",
                "conv3d_output_size", "conv_transpose3d_output_size", "dice_loss",
                "dice_ce_loss"}
# OpInfo's calling conventions that differ from the function's own
ADAPTERS = {"embedding": lambda weight, idx, **kw: F.embedding(idx, weight, **kw)}
RANDOM = {"dropout", "scaled_dot_product_attention"}  # random when p > 0: checked by law
# what the walk refuses today (test_the_walk_exercises_every_op pins this, so a new refusal
# or a newly supported argument shows up as a change to review)
EXPECTED_REFUSALS = {}


def _op_db():
    from torch.testing._internal.common_methods_invocations import op_db

    return op_db


def _variants():
    """(our name, OpInfo) for every OpInfo entry of an exported op, floating variants only."""
    exported = set(F.__all__)
    found = []
    for op in _op_db():
        name = op.name.removeprefix("nn.functional.")
        if name in exported and op.variant_test_name != "complex":
            found.append((name, op))
    return found


def _spread(samples, cap=CAP):
    """At most ``cap`` samples, evenly spread over the list (the max_pool2d list has 1440)."""
    step = max(1, -(-len(samples) // cap))
    return samples[::step]


def _ours(value, dtypes):
    """A sample argument in tinyunet's terms: Tensors (requires_grad kept), NumPy dtypes."""
    import torch as T

    if isinstance(value, T.Tensor):
        return tu.Tensor(value.detach().numpy().copy(), requires_grad=value.requires_grad)
    if isinstance(value, T.dtype):
        return dtypes[value]
    if isinstance(value, (list, tuple)):
        return type(value)(_ours(v, dtypes) for v in value)
    return value


def _clone(value):
    import torch as T

    if isinstance(value, T.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


def _flat(value):
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _flat(v)]
    return [value]


def _describe(sample):
    """A sample in a line: tensors as their shapes."""
    import torch as T

    def short(v):
        if isinstance(v, T.Tensor):
            return f"T{tuple(v.shape)}{'g' if v.requires_grad else ''}"
        if isinstance(v, (list, tuple)):
            return type(v)(short(x) for x in v)
        return v

    args = ", ".join(repr(short(a)) for a in (sample.input, *sample.args))
    return f"({args}, {', '.join(f'{k}={short(v)!r}' for k, v in sample.kwargs.items())})"


def _refused_argument(name, error):
    """The argument a NotImplementedError names (``arg=value`` or ``arg`` quoted), if any."""
    fn = ADAPTERS.get(name, getattr(F, name))
    params = set(inspect.signature(getattr(F, name)).parameters) | set(
        inspect.signature(fn).parameters)
    for word in re.findall(r"(\w+)=", str(error)):
        if word in params:
            return word
    return None


class Walk:
    """Runs samples and keeps the tallies the report and the assertions read."""

    def __init__(self, torch_module):
        self.torch = torch_module
        self.dtypes = {torch_module.float32: np.float32, torch_module.float64: np.float64,
                       torch_module.int64: np.int64, torch_module.bool: np.bool_}
        self.ran, self.matched, self.random = Counter(), Counter(), Counter()
        self.refused, self.failures = Counter(), []

    def sample(self, name, op, sample, dtype):
        key = f"{op.name}[{op.variant_test_name}] {dtype} {_describe(sample)}"
        theirs_args = _clone([sample.input, *sample.args])
        theirs_kwargs = {k: _clone(v) for k, v in sample.kwargs.items()}
        try:
            self.torch.manual_seed(0)
            expected = op(*theirs_args, **theirs_kwargs)
        except Exception:  # noqa: BLE001  (a sample torch itself refuses proves nothing)
            return
        args = [_ours(a, self.dtypes) for a in (sample.input, *sample.args)]
        kwargs = {k: _ours(v, self.dtypes) for k, v in sample.kwargs.items()}
        fn = ADAPTERS.get(name, getattr(F, name))
        self.ran[name] += 1
        try:
            got = fn(*args, **kwargs)
        except NotImplementedError as error:
            argument = _refused_argument(name, error)
            if argument is None:
                self.failures.append(f"{key}: NotImplementedError names no argument: {error}")
            else:
                self.refused[(name, argument)] += 1
            return
        except Exception as error:  # noqa: BLE001  (every other error is a failure, listed)
            self.failures.append(f"{key}: {type(error).__name__}: {error}")
            return
        problem = self._compare(name, got, expected, args, theirs_args, kwargs, theirs_kwargs,
                                dtype)
        if problem:
            self.failures.append(f"{key}: {problem}")

    def _compare(self, name, got, expected, args, theirs_args, kwargs, theirs_kwargs, dtype):
        outs, touts = _flat(got), _flat(expected)
        if len(outs) != len(touts):
            return f"{len(outs)} outputs, torch gives {len(touts)}"
        random = name in RANDOM and self._is_random(name, kwargs)
        for o, t in zip(outs, touts):
            t = t.detach().numpy()
            if o.shape != t.shape or o.dtype != t.dtype:
                return f"output {o.shape} {o.dtype}, torch {t.shape} {t.dtype}"
            if not random and not _close(o.data, t, dtype):
                return f"forward differs by {_gap(o.data, t)}"
        if random:
            self.random[name] += 1
            return self._law(name, outs[0], args, kwargs)
        for ours, theirs in zip(_flat([args, list(kwargs.values())]),
                                _flat([theirs_args, list(theirs_kwargs.values())])):
            if isinstance(ours, tu.Tensor) and not ours.requires_grad and \
                    not _close(ours.data, theirs.detach().numpy(), dtype):
                return "in-place state (e.g. running statistics) differs after the call"
        problem = self._backward(outs[0], touts[0], args, kwargs, theirs_args, theirs_kwargs,
                                 dtype)
        if problem:
            return problem
        self.matched[name] += 1
        return None

    def _backward(self, out, tout, args, kwargs, theirs_args, theirs_kwargs, dtype):
        T = self.torch
        leaves = [(o, t) for o, t in zip(_flat([args, list(kwargs.values())]),
                                          _flat([theirs_args, list(theirs_kwargs.values())]))
                  if isinstance(t, T.Tensor) and t.requires_grad]
        if not leaves or not tout.requires_grad or tout.numel() == 0:
            return None
        g = np.random.default_rng(0).standard_normal(tout.shape).astype(tout.detach().numpy()
                                                                         .dtype)
        grads = T.autograd.grad([tout], [t for _, t in leaves], [T.tensor(g)],
                                allow_unused=True)
        if not out.requires_grad:
            return "torch's output is differentiable, ours is not"
        out.backward(g)
        for (o, _), tg in zip(leaves, grads):
            expected = np.zeros(o.shape) if tg is None else tg.numpy()
            mine = np.zeros(o.shape) if o.grad is None else o.grad
            if mine.shape != expected.shape or not _close(mine, expected, dtype):
                return f"gradient of an input {o.shape} differs by {_gap(mine, expected)}"
        return None

    @staticmethod
    def _is_random(name, kwargs):
        """Dropout in training with 0 < p (dropout's default p is 0.5, attention's 0)."""
        p = kwargs.get("p", 0.5) if name == "dropout" else kwargs.get("dropout_p", 0.0)
        return kwargs.get("training", True) and 0 < p

    @staticmethod
    def _law(name, out, args, kwargs):
        """Dropout's law: every output is 0 or x / (1 - p); attention's: a finite output."""
        if name == "dropout":
            x, p = args[0].data, kwargs.get("p", 0.5)
            scaled = x / (1 - p) if p < 1 else np.zeros_like(x)
            if not np.all(np.isclose(out.data, 0) | np.isclose(out.data, scaled)):
                return "dropout output is neither 0 nor x / (1 - p)"
        elif not np.isfinite(out.data).all():
            return "attention with dropout gave non-finite values"
        return None


def _close(a, b, dtype):
    """Equal to rounding: each element within rtol of itself or of the array's largest
    magnitude (a gradient's near-zero entries carry the rounding of its large ones)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return np.array_equal(a, b)
    rtol, atol = (1e-4, 1e-5) if dtype == "float32" else (1e-7, 1e-9)
    scale = float(np.nanmax(np.abs(b), initial=0.0))
    return np.allclose(a, b, rtol=rtol, atol=atol + rtol * scale, equal_nan=True)


def _gap(a, b):
    with np.errstate(invalid="ignore"):
        return float(np.nanmax(np.abs(np.asarray(a, float) - np.asarray(b, float)), initial=0))


@pytest.fixture(scope="module")
def walk(torch):
    result = Walk(torch)
    torch.manual_seed(0)
    for name, op in _variants():
        for dtype in DTYPES:
            tdtype = getattr(torch, dtype)
            if tdtype not in op.supported_dtypes("cpu"):
                continue
            samples = list(op.sample_inputs("cpu", tdtype, requires_grad=op.supports_autograd))
            for sample in _spread(samples):
                result.sample(name, op, sample, dtype)
    return result


def test_every_sample_matches_torch_or_is_refused_by_name(walk):
    assert not walk.failures, f"{len(walk.failures)} samples failed:\n" + "\n".join(
        walk.failures[:60])


def test_the_walk_exercises_every_op(walk):
    covered = {name for name, _ in _variants()}
    assert covered | NOT_IN_TORCH == set(F.__all__), "an exported op has no OpInfo and no reason"
    assert set(walk.ran) == covered
    for name in covered:  # every op ran samples, and most were answered, not refused
        refused = sum(n for (op, _), n in walk.refused.items() if op == name)
        assert walk.matched[name] + walk.random[name] > refused, name
    assert dict(walk.refused) == EXPECTED_REFUSALS
    total, refused = sum(walk.ran.values()), sum(walk.refused.values())
    print(f"\nOpInfo walk: {total} samples, {sum(walk.matched.values())} equal to torch, "
          f"{sum(walk.random.values())} random (checked by law), {refused} refused")
    for (op, argument), n in sorted(walk.refused.items()):
        print(f"  refused {n:3d} x {op}: {argument}")
