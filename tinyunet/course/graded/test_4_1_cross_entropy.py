"""Task 4.1: cross-entropy over pixels: the fused log-softmax + NLL and its gradient."""

import numpy as np
import pytest
from graded_checks import assert_close, cross_entropy, log_softmax

from tinyunet.gradcheck import gradcheck
from tinyunet.ops.cross_entropy import cross_entropy as loss
from tinyunet.tensor import Tensor

OPTIONS = {
    "plain": {},
    "class weights": {"weight": "draw"},
    "ignore_index": {"ignore_index": 0},
    "label smoothing": {"label_smoothing": 0.2},
    "sum": {"reduction": "sum"},
    "none": {"reduction": "none"},
}


def _case(rng, option):
    N, C, H, W = int(rng.integers(1, 4)), int(rng.integers(2, 5)), 3, 4
    z = rng.standard_normal((N, C, H, W)) * 2
    y = rng.integers(0, C, size=(N, H, W))
    y.flat[0] = 1  # at least one target that ignore_index=0 keeps
    kwargs = dict(OPTIONS[option])
    if kwargs.get("weight") == "draw":
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=C)
    return z, y, kwargs


@pytest.mark.task("4.1", points=3)
@pytest.mark.parametrize("option", OPTIONS)
def test_forward(option, rng):
    z, y, kwargs = _case(rng, option)
    assert_close(loss(Tensor(z), y, **kwargs).data, cross_entropy(z, y, **kwargs),
                 f"cross_entropy ({option})")


@pytest.mark.task("4.1", points=1)
def test_huge_logits_stay_finite(rng):
    """exp(1000) overflows: subtract each pixel's max logit before exponentiating."""
    z = rng.standard_normal((2, 3, 2, 2)) * 1000
    y = rng.integers(0, 3, size=(2, 2, 2))
    assert_close(loss(Tensor(z), y).data, cross_entropy(z, y), "cross_entropy of logits ~1000")


@pytest.mark.task("4.1", points=3)
@pytest.mark.parametrize("option", OPTIONS)
def test_gradcheck(option, rng):
    z, y, kwargs = _case(rng, option)
    v = rng.standard_normal(z.shape[:1] + z.shape[2:])

    def f(t):
        out = loss(t, y, **kwargs)
        return (out * v).sum() if kwargs.get("reduction") == "none" else out

    gradcheck(f, (Tensor(z, requires_grad=True),), seed=int(rng.integers(2**31)))


@pytest.mark.task("4.1", points=1)
def test_gradient_is_softmax_minus_onehot(rng):
    z, y, _ = _case(rng, "plain")
    t = Tensor(z, requires_grad=True)
    loss(t, y, reduction="sum").backward()
    onehot = np.arange(z.shape[1]).reshape(1, -1, 1, 1) == y[:, None]
    assert_close(t.grad, np.exp(log_softmax(z)) - onehot, "dL/dz of the summed cross-entropy")
