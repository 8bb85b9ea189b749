"""max_pool3d: against PyTorch (values, indices, gradient) over kernel, stride, padding,
dilation and ceil_mode; reference against numba; ties, NaN, unbatched input; bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.kernels import numba_cpu, reference
from tinyunet.ops.pool3d import max_pool3d


@st.composite
def pool_cases(draw):
    """Hyper-parameters PyTorch accepts and an input the window fits in."""
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(st.integers(1, 3)) for _ in range(3))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    d = tuple(draw(st.integers(1, 2)) for _ in range(3))
    low = [max(1, di * (ki - 1) + 1 - 2 * pi) for ki, pi, di in zip(k, p, d)]
    size = tuple(draw(st.integers(lo, lo + 3)) for lo in low)
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size),
                kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=draw(st.booleans()))


def run(x, case):
    xt = tu.Tensor(x, requires_grad=True)
    hyper = {k: v for k, v in case.items() if k != "shape"}
    y, indices = max_pool3d(xt, return_indices=True, **hyper)
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
    y.backward(grad)
    return y.data, indices.data, grad, xt.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=12)
@given(case=pool_cases())
def test_matches_torch(torch, kernel_set, dtype, case):
    x = np.random.default_rng(0).standard_normal(case["shape"]).astype(dtype)
    y, indices, grad, grad_x = run(x, case)
    hyper = {k: v for k, v in case.items() if k != "shape"}
    x_t = torch.tensor(x, requires_grad=True)
    y_t, indices_t = torch.nn.functional.max_pool3d(x_t, return_indices=True, **hyper)
    y_t.backward(torch.tensor(grad))
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_array_equal(indices, indices_t.numpy())
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=1e-6, atol=1e-6)


@settings(max_examples=12)
@given(case=pool_cases())
def test_reference_and_numba_kernels_agree(case):
    x = np.random.default_rng(2).standard_normal(case["shape"])
    x[..., 0] = x[..., -1]  # some ties
    hyper = [case[k] for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode")]
    y, argmax = reference.max_pool3d(x, *hyper)
    y_fast, argmax_fast = numba_cpu.max_pool3d(x, *hyper)
    np.testing.assert_array_equal(y_fast, y)
    np.testing.assert_array_equal(argmax_fast, argmax)
    grad = np.random.default_rng(3).standard_normal(y.shape)
    np.testing.assert_array_equal(numba_cpu.max_pool3d_backward(grad, argmax, x.shape),
                                  reference.max_pool3d_backward(grad, argmax, x.shape))


@pytest.mark.parametrize("shape", [(2, 3, 4, 6, 8), (1, 2, 7, 5, 3)])
def test_the_unets_2x2x2_pool_matches_torch(torch, kernel_set, shape):
    """The unrolled 2x2x2 kernel, on even sizes and on odd ones (the last voxel is dropped)."""
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    x[0, 0, :2, :2, :2] = 1.5  # a tie: the first voxel in (d, h, w) order wins
    y, indices = max_pool3d(x, 2, return_indices=True)
    y_t, indices_t = torch.nn.functional.max_pool3d(torch.tensor(x), 2, return_indices=True)
    assert y.shape == shape[:2] + tuple(n // 2 for n in shape[2:])
    np.testing.assert_array_equal(y.data, y_t.numpy())
    np.testing.assert_array_equal(indices.data, indices_t.numpy())
    assert indices.data[0, 0, 0, 0, 0] == 0


def test_nan_propagates_and_unbatched_input(torch, kernel_set):
    x = np.zeros((2, 4, 4, 4), np.float32)  # unbatched (C, D, H, W)
    x[0, 1, 2, 3], x[1, 0, 0, 0] = np.nan, np.inf
    y = max_pool3d(x, 2)
    expected = torch.nn.functional.max_pool3d(torch.tensor(x), 2).numpy()
    assert y.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(y.data, expected)
    assert np.isnan(y.data[0, 0, 1, 1]) and y.data[1, 0, 0, 0] == np.inf


@pytest.mark.parametrize("hyper", [dict(kernel_size=2), dict(kernel_size=(3, 2, 2), stride=1,
                                   padding=(1, 0, 1), dilation=(1, 2, 1), ceil_mode=True)])
def test_gradcheck(kernel_set, hyper):
    x = tu.Tensor(np.random.default_rng(5).permutation(60).reshape(1, 1, 3, 4, 5) / 7.0,
                  requires_grad=True)  # distinct values: no ties, a differentiable max
    assert tu.gradcheck(lambda x: max_pool3d(x, **hyper), (x,))


BAD = [
    (dict(x=np.zeros((4, 4, 4), np.float32)), ValueError,
     r"expected a 5-D input \(N, C, D, H, W\) or an unbatched 4-D one \(C, D, H, W\), got shape "
     r"\(4, 4, 4\)"),
    (dict(x=np.zeros((1, 1, 4, 4, 4), np.int32)), TypeError, r"floating-point input, got dtype"),
    (dict(padding=2), ValueError, r"padding \(2, 2, 2\) must be at most half of kernel_size"),
    (dict(kernel_size=(5, 2, 2)), ValueError,
     r"kernel_size \(5, 2, 2\) with dilation \(1, 1, 1\) spans \(5, 2, 2\), which does not fit "
     r"the input of shape \(1, 1, 4, 4, 4\)"),
    (dict(dilation=4), ValueError, r"spans \(5, 5, 5\), which does not fit"),
    (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(kernel_size=(2, 2)), TypeError, r"kernel_size must be an int or a triple of ints"),
]


@pytest.mark.parametrize("bad, error, message", BAD)
def test_bad_input(bad, error, message):
    args = dict(x=np.zeros((1, 1, 4, 4, 4), np.float32), kernel_size=2) | bad
    x = args.pop("x")
    with pytest.raises(error, match=message):
        max_pool3d(x, **args)
