"""Task 3.3: concatenation and center crop, the two halves of a U-Net skip connection."""

import numpy as np
import pytest
from graded_checks import assert_close

from tinyunet.gradcheck import gradcheck
from tinyunet.ops.concat import cat, center_crop
from tinyunet.tensor import Tensor


def _pieces(rng, dim, count=3):
    shape = [int(n) for n in rng.integers(1, 4, size=4)]
    pieces = []
    for _ in range(count):
        shape[dim] = int(rng.integers(1, 4))
        pieces.append(rng.standard_normal(tuple(shape)))
    return pieces


@pytest.mark.task("3.3", points=2)
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_cat_forward_and_backward(dim, rng):
    pieces = _pieces(rng, dim)
    tensors = [Tensor(p, requires_grad=True) for p in pieces]
    y = cat(tensors, dim=dim)
    assert_close(y.data, np.concatenate(pieces, axis=dim), f"cat along dim {dim}")
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ends = np.cumsum([p.shape[dim] for p in pieces])[:-1]
    for k, (t, expected) in enumerate(zip(tensors, np.split(g, ends, axis=dim))):
        assert_close(t.grad, expected, f"dL/d(input {k}) of cat along dim {dim}")


@pytest.mark.task("3.3", points=1)
def test_cat_gradcheck(rng):
    pieces = [Tensor(p, requires_grad=True) for p in _pieces(rng, 1)]
    gradcheck(lambda a, b, c: cat([a, b, c], dim=1), pieces, seed=int(rng.integers(2**31)))


@pytest.mark.task("3.3", points=2)
@pytest.mark.parametrize("case", range(3))
def test_center_crop(case, rng):
    """top = round((H - h) / 2) as torchvision (halves round to even); the gradient is zero
    outside the kept window."""
    H, W = (int(n) for n in rng.integers(3, 9, size=2))
    h, w = int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))
    x = Tensor(rng.standard_normal((1, 2, H, W)), requires_grad=True)
    y = center_crop(x, (h, w))
    top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    assert_close(y.data, x.data[..., top:top + h, left:left + w], f"center_crop {H}x{W} -> "
                 f"{h}x{w}")
    g = rng.standard_normal(y.shape)
    y.backward(g)
    expected = np.zeros(x.shape)
    expected[..., top:top + h, left:left + w] = g
    assert_close(x.grad, expected, "dL/dx of center_crop")


@pytest.mark.task("3.3", points=1)
def test_skip_connection(rng):
    """cat([d, center_crop(s)], dim=1): decoder channels first, then the cropped encoder map."""
    d = Tensor(rng.standard_normal((2, 3, 4, 4)), requires_grad=True)
    s = Tensor(rng.standard_normal((2, 5, 8, 8)), requires_grad=True)
    y = cat([d, center_crop(s, (4, 4))], dim=1)
    assert y.shape == (2, 8, 4, 4)
    assert_close(y.data[:, 3:], s.data[:, :, 2:6, 2:6], "the skip's channels")
    gradcheck(lambda d, s: cat([d, center_crop(s, (4, 4))], dim=1), (d, s),
              seed=int(rng.integers(2**31)))
