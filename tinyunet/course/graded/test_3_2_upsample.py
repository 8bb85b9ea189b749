"""Task 3.2: nearest and bilinear upsampling, forward and backward, against interpolation
matrices (y = R x C^T, so dL/dx = R^T g C)."""

import numpy as np
import pytest
from graded_checks import assert_close, interpolation_matrix

from tinyunet.backend import use_kernels
from tinyunet.gradcheck import gradcheck
from tinyunet.ops.interpolate import interpolate
from tinyunet.tensor import Tensor

MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]


def _case(rng):
    N, C = (int(n) for n in rng.integers(1, 3, size=2))
    size_in = tuple(int(n) for n in rng.integers(2, 6, size=2))
    if rng.random() < 0.5:
        size_out = tuple(2 * n for n in size_in)  # the U-Net's x2
    else:
        size_out = tuple(int(n) for n in rng.integers(2, 10, size=2))
    return rng.standard_normal((N, C) + size_in), size_out


@pytest.mark.task("3.2", points=2)
@pytest.mark.parametrize("mode, align_corners", MODES)
def test_forward_and_backward(mode, align_corners, rng):
    x, size = _case(rng)
    R = interpolation_matrix(x.shape[2], size[0], mode, bool(align_corners))
    C = interpolation_matrix(x.shape[3], size[1], mode, bool(align_corners))
    t = Tensor(x, requires_grad=True)
    with use_kernels("reference"):
        y = interpolate(t, size=size, mode=mode, align_corners=align_corners)
        g = rng.standard_normal(y.shape)
        y.backward(g)
    what = f"{mode} (align_corners={align_corners}) from {x.shape[2:]} to {size}"
    assert_close(y.data, np.einsum("hH,ncHW,wW->nchw", R, x, C), what)
    assert_close(t.grad, np.einsum("hH,nchw,wW->ncHW", R, g, C), f"dL/dx of {what}")


@pytest.mark.task("3.2", points=1)
def test_scale_factor_two(rng):
    x = rng.standard_normal((1, 2, 3, 4))
    with use_kernels("reference"):
        y = interpolate(Tensor(x), scale_factor=2, mode="nearest")
    assert_close(y.data, x.repeat(2, axis=2).repeat(2, axis=3), "nearest x2 copies each pixel")


@pytest.mark.task("3.2", points=3)
@pytest.mark.parametrize("mode, align_corners", MODES)
def test_gradcheck(mode, align_corners, rng):
    x, size = _case(rng)
    with use_kernels("reference"):
        gradcheck(lambda t: interpolate(t, size=size, mode=mode, align_corners=align_corners),
                  (Tensor(x, requires_grad=True),), seed=int(rng.integers(2**31)))
