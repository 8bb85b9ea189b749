"""Task 2.3: conv2d backward: the weight gradient kernel, the input gradient as a transposed
conv, judged by finite differences through the engine (reference kernels, float64)."""

import numpy as np
import pytest
from graded_checks import assert_close, conv2d_grad_weight, conv_out

import tinyunet.kernels.reference.conv as kernels
from tinyunet.backend import use_kernels
from tinyunet.gradcheck import gradcheck
from tinyunet.ops.conv import conv2d
from tinyunet.tensor import Tensor


@pytest.mark.task("2.3", points=3)
@pytest.mark.parametrize("case", range(3))
def test_weight_gradient_kernel(case, rng):
    stride = tuple(int(s) for s in rng.integers(1, 3, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    padding = tuple(int(p) for p in rng.integers(0, 2, size=2))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    N, C_in, C_out = (int(n) for n in rng.integers(1, 3, size=3))
    size = tuple(int(dilation[i] * (kernel[i] - 1) + 1 + rng.integers(1, 5)) for i in range(2))
    out = tuple(conv_out(size[i], kernel[i], stride[i], padding[i], dilation[i])
                for i in range(2))
    x, grad_y = rng.standard_normal((N, C_in) + size), rng.standard_normal((N, C_out) + out)
    got = kernels.conv2d_grad_weight(x, grad_y, kernel, stride, padding, dilation)
    assert_close(got, conv2d_grad_weight(x, grad_y, kernel, stride, padding, dilation),
                 f"conv2d_grad_weight of x {x.shape}, grad_y {grad_y.shape}, stride {stride}, "
                 f"padding {padding}, dilation {dilation}")


def _gradcheck(rng, size, kernel, stride, padding, dilation):
    C_in, C_out = (int(n) for n in rng.integers(1, 3, size=2))
    x = Tensor(rng.standard_normal((1, C_in) + size), requires_grad=True)
    w = Tensor(rng.standard_normal((C_out, C_in) + kernel), requires_grad=True)
    b = Tensor(rng.standard_normal(C_out), requires_grad=True)
    v = None

    def loss(x, w, b):
        nonlocal v
        y = conv2d(x, w, b, stride, padding, dilation)
        v = rng.standard_normal(y.shape) if v is None else v
        return (y * v).sum()

    with use_kernels("reference"):
        gradcheck(loss, (x, w, b), seed=int(rng.integers(2**31)))
    return x


@pytest.mark.task("2.3", points=3)
@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (1, 1, 2)])
def test_gradcheck_conv2d(stride, padding, dilation, rng):
    size = tuple(int(n) for n in rng.integers(4, 7, size=2))
    _gradcheck(rng, size, (3, 3), stride, padding, dilation)


@pytest.mark.task("2.3", points=2)
def test_input_gradient_restores_the_rows_the_floor_dropped(rng):
    """kernel 3, stride 2, padding 1 on 8 rows: the last row is read by no window, yet dL/dx
    must have 8 rows (zero in the last one): output_padding gives the transposed conv its size.
    """
    x = _gradcheck(rng, (8, 8), (3, 3), 2, 1, 1)
    assert x.grad is not None and np.shape(x.grad) == x.shape
