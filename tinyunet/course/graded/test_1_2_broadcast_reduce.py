"""Task 1.2: broadcasting undone (unbroadcast is broadcasting's adjoint), and reductions."""

import numpy as np
import pytest
from graded_checks import assert_close, check_backward

from tinyunet.broadcast import unbroadcast
from tinyunet.function import Context
from tinyunet.ops import reduce as ops


def _broadcast_pair(rng):
    """A small shape with some axes of size 1, and a shape it broadcasts to (maybe with new
    leading axes)."""
    shape = [int(n) for n in rng.integers(1, 4, size=rng.integers(1, 4))]
    for i in rng.choice(len(shape), size=rng.integers(0, len(shape) + 1), replace=False):
        shape[i] = 1
    big = [int(rng.integers(2, 4)) if n == 1 and rng.random() < 0.7 else n for n in shape]
    lead = [int(n) for n in rng.integers(1, 4, size=rng.integers(0, 3))]
    return tuple(shape), tuple(lead + big)


@pytest.mark.task("1.2", points=2)
@pytest.mark.parametrize("case", range(4))
def test_unbroadcast_is_the_adjoint_of_broadcasting(case, rng):
    """<broadcast(a), g> == <a, unbroadcast(g)> for every a and g: that *is* the gradient."""
    shape, big = _broadcast_pair(rng)
    a, g = rng.standard_normal(shape), rng.standard_normal(big)
    back = unbroadcast(g, shape)
    assert np.shape(back) == shape, f"unbroadcast to {shape} returned shape {np.shape(back)}"
    assert_close(float((a * back).sum()), float((np.broadcast_to(a, big) * g).sum()),
                 f"<a, unbroadcast(g)> for a {shape} broadcast to {big}")


def _reduction(name, rng):
    shape = tuple(int(n) for n in rng.integers(2, 5, size=3))
    x = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) * 0.1
    keepdim = bool(rng.integers(2))
    if name == "MaxDim":
        dim = int(rng.integers(3))
        expected = x.max(axis=dim, keepdims=keepdim)
        return x, {"dim": dim, "keepdim": keepdim}, expected
    axes = tuple(sorted(rng.choice(3, size=rng.integers(1, 4), replace=False).tolist()))
    numpy = {"Sum": np.sum, "Mean": np.mean, "Amax": np.max}[name]
    return x, {"axes": axes, "keepdim": keepdim}, numpy(x, axis=axes, keepdims=keepdim)


REDUCTIONS = ["Sum", "Mean", "Amax", "MaxDim"]


@pytest.mark.task("1.2", points=1)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_forward(name, rng):
    x, kwargs, expected = _reduction(name, rng)
    y = getattr(ops, name).forward(Context((False,)), x, **kwargs)
    assert_close(y, expected, f"{name}.forward with {kwargs}")


@pytest.mark.task("1.2", points=2)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_backward(name, rng):
    x, kwargs, _ = _reduction(name, rng)  # distinct values: max has one winner
    check_backward(getattr(ops, name), Context, (x,), rng, **kwargs)


@pytest.mark.task("1.2", points=1)
def test_tied_maxima_share_the_gradient(rng):
    """amax of [3, 7, 7, 1]: the two 7s tie, so each gets half of the gradient (as torch.amax)."""
    x = np.array([[3.0, 7.0, 7.0, 1.0]]) * rng.uniform(0.5, 2.0)
    ctx = Context((True,))
    ops.Amax.forward(ctx, x, axes=(1,), keepdim=False)
    g = rng.uniform(1.0, 2.0, size=(1,))
    assert_close(ops.Amax.backward(ctx, g), [[0.0, g[0] / 2, g[0] / 2, 0.0]], "Amax.backward")
