"""Task 3.1: max-pool with its saved argmax: values, indices, and the gradient to the winner."""

import numpy as np
import pytest
from graded_checks import assert_close, max_pool2d

from tinyunet.backend import use_kernels
from tinyunet.gradcheck import gradcheck
from tinyunet.ops.pool import max_pool2d as pool
from tinyunet.tensor import Tensor


def _case(rng, overlap=False):
    kernel = tuple(int(k) for k in rng.integers(2, 4, size=2))
    stride = tuple(int(rng.integers(1, kernel[i])) if overlap else kernel[i] for i in range(2))
    padding = tuple(int(rng.integers(0, kernel[i] // 2 + 1)) for i in range(2))
    N, C = (int(n) for n in rng.integers(1, 3, size=2))
    size = tuple(int(kernel[i] + rng.integers(1, 6)) for i in range(2))
    # distinct values, well apart: one winner per window, and finite differences stay inside it
    x = rng.permutation(np.arange(N * C * size[0] * size[1], dtype=np.float64))
    return x.reshape((N, C) + size) * 0.1, kernel, stride, padding


@pytest.mark.task("3.1", points=3)
@pytest.mark.parametrize("overlap", [False, True, True])
def test_values_and_argmax(overlap, rng):
    x, kernel, stride, padding = _case(rng, overlap)
    with use_kernels("reference"):
        y, indices = pool(Tensor(x), kernel, stride, padding, return_indices=True)
    values, argmax = max_pool2d(x, kernel, stride, padding)
    what = f"max_pool2d of {x.shape}, kernel {kernel}, stride {stride}, padding {padding}"
    assert_close(y.data, values, what)
    assert np.array_equal(np.asarray(indices.data), argmax), f"{what}: wrong argmax indices"


@pytest.mark.task("3.1", points=1)
def test_ties_go_to_the_first_maximum(rng):
    x = np.full((1, 1, 4, 4), rng.uniform(-1.0, 1.0))
    with use_kernels("reference"):
        _, indices = pool(Tensor(x), 2, 2, 0, return_indices=True)
    assert np.array_equal(np.asarray(indices.data), [[[[0, 2], [8, 10]]]])


@pytest.mark.task("3.1", points=2)
@pytest.mark.parametrize("overlap", [False, True])
def test_gradient_goes_to_the_argmax(overlap, rng):
    """Each window's gradient lands on its winner; overlapping windows add up."""
    x, kernel, stride, padding = _case(rng, overlap)
    t = Tensor(x, requires_grad=True)
    with use_kernels("reference"):
        y = pool(t, kernel, stride, padding)
        g = rng.standard_normal(y.shape)
        y.backward(g)
    _, argmax = max_pool2d(x, kernel, stride, padding)
    expected = np.zeros((x.shape[0], x.shape[1], x.shape[2] * x.shape[3]))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            np.add.at(expected[n, c], argmax[n, c].ravel(), g[n, c].ravel())
    assert_close(t.grad, expected.reshape(x.shape), "dL/dx of max_pool2d")


@pytest.mark.task("3.1", points=2)
def test_gradcheck(rng):
    x, kernel, stride, padding = _case(rng, overlap=True)
    with use_kernels("reference"):
        gradcheck(lambda t: pool(t, kernel, stride, padding), (Tensor(x, requires_grad=True),),
                  seed=int(rng.integers(2**31)))
