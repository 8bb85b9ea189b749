"""Task 1.1: elementwise ops and their backward, judged op by op without the engine."""

import numpy as np
import pytest
from graded_checks import assert_close, check_backward

from tinyunet.function import Context
from tinyunet.ops import math as ops

# name -> (NumPy forward, inputs drawn from rng and a shape)
BINARY = {
    "Add": (np.add, lambda rng, s: (rng.standard_normal(s), rng.standard_normal(s))),
    "Sub": (np.subtract, lambda rng, s: (rng.standard_normal(s), rng.standard_normal(s))),
    "Mul": (np.multiply, lambda rng, s: (rng.standard_normal(s), rng.standard_normal(s))),
    "Div": (np.divide, lambda rng, s: (rng.standard_normal(s), _away_from_zero(rng, s))),
    "Pow": (np.power, lambda rng, s: (rng.uniform(0.5, 2.0, s), rng.uniform(-2.0, 2.0, s))),
}
UNARY = {
    "Neg": (np.negative, lambda rng, s: rng.standard_normal(s)),
    "Exp": (np.exp, lambda rng, s: rng.standard_normal(s)),
    "Log": (np.log, lambda rng, s: rng.uniform(0.5, 3.0, s)),
    "Sqrt": (np.sqrt, lambda rng, s: rng.uniform(0.5, 3.0, s)),
    "Abs": (np.abs, lambda rng, s: _away_from_zero(rng, s)),
}
NAMES = [*BINARY, *UNARY, "Clip"]


def _away_from_zero(rng, shape):
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _case(name, rng):
    """(inputs, kwargs, expected forward) for one op on a freshly drawn shape."""
    shape = tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(1, 4)))
    if name == "Clip":
        x = rng.uniform(-2.0, 2.0, shape)
        x = np.where(np.abs(np.abs(x) - 1.0) < 0.05, 0.0, x)  # no element on a kink
        return (x,), {"lo": -1.0, "hi": 1.0}, np.clip(x, -1.0, 1.0)
    if name in BINARY:
        forward, draw = BINARY[name]
        a, b = draw(rng, shape)
        return (a, b), {}, forward(a, b)
    forward, draw = UNARY[name]
    x = draw(rng, shape)
    return (x,), {}, forward(x)


@pytest.mark.task("1.1", points=2)
@pytest.mark.parametrize("name", NAMES)
def test_forward(name, rng):
    inputs, kwargs, expected = _case(name, rng)
    fn = getattr(ops, name)
    y = fn.forward(Context((False,) * len(inputs)), *inputs, **kwargs)
    assert_close(y, expected, f"{name}.forward")


@pytest.mark.task("1.1", points=4)
@pytest.mark.parametrize("name", NAMES)
def test_backward(name, rng):
    inputs, kwargs, _ = _case(name, rng)
    check_backward(getattr(ops, name), Context, inputs, rng, **kwargs)
