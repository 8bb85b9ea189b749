"""max_pool2d, avg_pool2d, adaptive_avg_pool2d: against PyTorch (dilation, ceil_mode,
divisor_override, unbatched and empty batches included), reference vs numba, gradcheck, ties,
NaN, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.kernels import numba_cpu, reference
from tinyunet.kernels.reference.pool import pool_output_size
from tinyunet.ops.avg_pool import adaptive_avg_pool2d, avg_pool2d
from tinyunet.ops.pool import max_pool2d


@st.composite
def pool_cases(draw, max_size=7, dilate=False):
    """(x, kernel_size, stride, padding, dilation, ceil_mode): odd/non-square shapes, padding
    within torch's limit, every window fitting the (dilated) kernel."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilate else (1, 1)
    ceil_mode = draw(st.booleans())
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = draw(st.integers(max(d[0] * (k[0] - 1) + 1 - 2 * p[0], 1), max_size))
    W = draw(st.integers(max(d[1] * (k[1] - 1) + 1 - 2 * p[1], 1), max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    return x, k, s, p, d, ceil_mode


def _small(kernel_set):
    return 5 if kernel_set == "reference" else 9  # reference kernels are Python loops


def _torch_pool(torch, fn, x, grad, **kw):
    t = torch.tensor(x, requires_grad=True)
    out = fn(t, **kw)
    y = out[0] if isinstance(out, tuple) else out
    y.backward(torch.tensor(grad))
    return out, t.grad.numpy()


@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_max_pool2d_matches_torch(kernel_set, torch, data, dtype):
    x, k, s, p, d, ceil_mode = data.draw(pool_cases(_small(kernel_set), dilate=True))
    x = x.astype(dtype)
    X = tu.Tensor(x, requires_grad=True)
    y, idx = max_pool2d(X, k, s, p, d, ceil_mode, return_indices=True)
    assert y.dtype == dtype
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(grad)
    (ty, tidx), tgrad = _torch_pool(torch, torch.nn.functional.max_pool2d, x, grad,
                                    kernel_size=k, stride=s, padding=p, dilation=d,
                                    ceil_mode=ceil_mode, return_indices=True)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_allclose(X.grad, tgrad, rtol=1e-6, atol=1e-6)


@given(data=st.data(), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 3, -2]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_avg_pool2d_matches_torch(kernel_set, torch, data, count_include_pad, divisor_override,
                                  dtype):
    x, k, s, p, _, ceil_mode = data.draw(pool_cases(_small(kernel_set)))
    x = x.astype(dtype)
    X = tu.Tensor(x, requires_grad=True)
    y = avg_pool2d(X, k, s, p, ceil_mode, count_include_pad, divisor_override)
    assert y.dtype == dtype
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(grad)
    ty, tgrad = _torch_pool(torch, torch.nn.functional.avg_pool2d, x, grad, kernel_size=k,
                            stride=s, padding=p, ceil_mode=ceil_mode,
                            count_include_pad=count_include_pad,
                            divisor_override=divisor_override)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(X.grad, tgrad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("out", [(1, 1), (3, 2), (5, 7), (2, None)])
def test_adaptive_avg_pool2d_matches_torch(kernel_set, torch, dtype, out):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(dtype)
    X = tu.Tensor(x, requires_grad=True)
    y = adaptive_avg_pool2d(X, out)
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(grad)
    ty, tgrad = _torch_pool(torch, torch.nn.functional.adaptive_avg_pool2d, x, grad,
                            output_size=out)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(X.grad, tgrad, rtol=tol, atol=tol)


def test_ceil_mode_keeps_the_partial_last_window(kernel_set):
    # 5 rows, kernel 2, stride 2: floor gives 2 windows (rows 0-1, 2-3), ceil a third (row 4
    # alone); with padding 1 the ceil formula would give 4, but the 4th window would start in
    # the bottom padding (3 * 2 >= 5 + 1), so it is dropped: 3.
    assert pool_output_size(5, 2, 2, 0, 1, False) == 2
    assert pool_output_size(5, 2, 2, 0, 1, True) == 3
    assert pool_output_size(5, 2, 2, 1, 1, True) == 3
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    y = max_pool2d(x, 2, ceil_mode=True).data[0, 0]
    np.testing.assert_array_equal(y[2], [21, 23, 24])      # the last row's windows hold row 4
    a = avg_pool2d(x, 2, ceil_mode=True).data[0, 0]
    assert a[2, 2] == 24  # a window of one real pixel, hanging past the input: divisor 1


def test_dilation_spaces_the_taps(kernel_set):
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    y, idx = max_pool2d(-x, 2, stride=1, dilation=2, return_indices=True)
    assert y.shape == (1, 1, 3, 3)   # the 2x2 kernel spans 3x3 pixels: 5 - 3 + 1 = 3
    np.testing.assert_array_equal(idx.data[0, 0], [[0, 1, 2], [5, 6, 7], [10, 11, 12]])


def test_divisor_override_replaces_the_count(kernel_set):
    x = np.ones((1, 1, 4, 4))
    np.testing.assert_allclose(avg_pool2d(x, 2, divisor_override=1).data, 4.0)  # a sum pool
    with pytest.raises(ValueError, match="divisor_override must be a non-zero int, got 0"):
        avg_pool2d(x, 2, divisor_override=0)


@pytest.mark.parametrize("fn", [lambda x: max_pool2d(x, 3, 2, 1, 1, True),
                                lambda x: max_pool2d(x, 3, 2, 1, 1, True, True)[0],
                                lambda x: avg_pool2d(x, 3, 2, 1, True, False),
                                lambda x: adaptive_avg_pool2d(x, (2, 3))])
def test_unbatched_and_empty_batches(kernel_set, fn):
    x = np.random.default_rng(0).standard_normal((2, 5, 7))  # (C, H, W): one sample
    X = tu.Tensor(x, requires_grad=True)
    y = fn(X)
    np.testing.assert_array_equal(y.data, fn(x[None]).data[0])
    y.sum().backward()
    assert X.grad.shape == x.shape
    empty = tu.Tensor(np.zeros((0, 2, 5, 7)), requires_grad=True)
    y = fn(empty)
    assert y.shape[:2] == (0, 2)
    y.sum().backward()
    assert empty.grad.shape == (0, 2, 5, 7)


def test_stride_defaults_to_kernel_size(kernel_set):
    x = np.arange(36, dtype=np.float32).reshape(1, 1, 6, 6)
    np.testing.assert_array_equal(max_pool2d(x, 2).data, max_pool2d(x, 2, stride=2).data)
    np.testing.assert_array_equal(max_pool2d(x, 2).data, x[:, :, 1::2, 1::2])
    assert avg_pool2d(x, 3).shape == (1, 1, 2, 2)


@settings(max_examples=15)
@given(data=st.data(), count_include_pad=st.booleans(), divisor=st.sampled_from([None, 5]))
def test_reference_and_numba_kernels_agree(data, count_include_pad, divisor):
    x, k, s, p, d, ceil_mode = data.draw(pool_cases(max_size=5, dilate=True))
    for dtype, tol in ((np.float32, 1e-6), (np.float64, 1e-12)):
        xd = x.astype(dtype)
        (y_r, i_r), (y_n, i_n) = (ks.max_pool2d(xd, k, s, p, d, ceil_mode)
                                  for ks in (reference, numba_cpu))
        np.testing.assert_array_equal(y_r, y_n)
        np.testing.assert_array_equal(i_r, i_n)
        assert y_r.dtype == y_n.dtype == dtype
        g = np.random.default_rng(2).standard_normal(y_r.shape).astype(dtype)
        np.testing.assert_allclose(reference.max_pool2d_backward(g, i_r, x.shape),
                                   numba_cpu.max_pool2d_backward(g, i_n, x.shape), atol=tol)
        a_r, a_n = (ks.avg_pool2d(xd, k, s, p, ceil_mode, count_include_pad, divisor)
                    for ks in (reference, numba_cpu))
        np.testing.assert_allclose(a_r, a_n, rtol=tol, atol=tol)
        assert a_r.dtype == a_n.dtype == dtype
        g = np.random.default_rng(2).standard_normal(a_r.shape).astype(dtype)
        hyper = (k, s, p, count_include_pad, divisor)
        np.testing.assert_allclose(reference.avg_pool2d_backward(g, x.shape, *hyper),
                                   numba_cpu.avg_pool2d_backward(g, x.shape, *hyper),
                                   rtol=tol, atol=tol)
        out = (data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6)))
        b_r, b_n = (ks.adaptive_avg_pool2d(xd, out) for ks in (reference, numba_cpu))
        np.testing.assert_allclose(b_r, b_n, rtol=tol, atol=tol)
        g = np.random.default_rng(3).standard_normal(b_r.shape).astype(dtype)
        np.testing.assert_allclose(reference.adaptive_avg_pool2d_backward(g, x.shape),
                                   numba_cpu.adaptive_avg_pool2d_backward(g, x.shape),
                                   rtol=tol, atol=tol)


@pytest.mark.parametrize("k, s, p, d, ceil", [
    (2, 2, 0, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 2, True), ((2, 3), (1, 2), (1, 0), 1, True),
])
def test_max_pool2d_gradcheck(kernel_set, k, s, p, d, ceil):
    # a permutation has no ties, so max is differentiable at x and the finite differences
    # (eps = 1e-6 << the gap of 1 between values) never change a window's winner
    x = np.random.default_rng(0).permutation(2 * 5 * 6).reshape(1, 2, 5, 6).astype(np.float64)
    X = tu.Tensor(x, requires_grad=True)
    assert tu.gradcheck(lambda t: max_pool2d(t, k, s, p, d, ceil), (X,))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("k, s, p, ceil, divisor", [(2, 2, 0, False, None), (3, 1, 1, True, None),
                                                    ((3, 2), (2, 1), (1, 1), True, None),
                                                    (3, 2, 1, True, -2)])
def test_avg_pool2d_gradcheck(kernel_set, k, s, p, ceil, divisor, count_include_pad):
    X = tu.Tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 4)), requires_grad=True)
    assert tu.gradcheck(lambda t: avg_pool2d(t, k, s, p, ceil, count_include_pad, divisor),
                        (X,))


@pytest.mark.parametrize("out", [(1, 1), (2, 3), (4, 3)])
def test_adaptive_avg_pool2d_gradcheck(kernel_set, out):
    X = tu.Tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 4)), requires_grad=True)
    assert tu.gradcheck(lambda t: adaptive_avg_pool2d(t, out), (X,))


def test_max_pool2d_ties_go_to_the_first_maximum(kernel_set, torch):
    x = np.array([[0, 3, 5, 5],
                  [3, 1, 5, 5],
                  [2, 2, 7, 0],
                  [2, 2, 0, 7]], dtype=np.float32).reshape(1, 1, 4, 4)
    X = tu.Tensor(x, requires_grad=True)
    y, idx = max_pool2d(X, 2, return_indices=True)
    np.testing.assert_array_equal(y.data[0, 0], [[3, 5], [2, 7]])
    # first in row-major window order: (0,1) over (1,0); (0,2) over the other 5s; (2,0) ...
    np.testing.assert_array_equal(idx.data[0, 0], [[0 * 4 + 1, 0 * 4 + 2], [2 * 4 + 0, 2 * 4 + 2]])
    y.sum().backward()
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 1] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1
    np.testing.assert_array_equal(X.grad[0, 0], expected)  # the whole gradient to the winner
    # and the same as PyTorch on a tie-heavy input with overlapping, padded windows
    ties = np.random.default_rng(0).integers(0, 3, (2, 2, 7, 6)).astype(np.float32)
    _, tidx = torch.nn.functional.max_pool2d(torch.tensor(ties), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(max_pool2d(ties, 3, 1, 1, return_indices=True)[1].data,
                                  tidx.numpy())


def test_max_pool2d_nan_propagates(kernel_set, torch):
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    x[0, 0, 1, 1] = x[0, 1, 4, 5] = x[0, 1, 5, 4] = np.nan
    y, idx = max_pool2d(x, 3, 2, 1, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert np.isnan(y.data[0, 0, :2, :2]).all()   # every window holding (1, 1)
    assert np.isnan(y.data).sum() == torch.isnan(ty).sum().item() > 0
    np.testing.assert_array_equal(y.data, ty.numpy())   # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(idx.data, tidx.numpy())


def test_max_pool2d_pads_with_minus_infinity(kernel_set):
    x = -np.ones((1, 1, 3, 3), dtype=np.float32) - np.arange(9, dtype=np.float32).reshape(3, 3)
    y = max_pool2d(x, 3, 1, 1)
    assert (y.data < 0).all()  # zero padding would have made every output 0
    assert y.data[0, 0, 0, 0] == -1 and y.data[0, 0, 2, 2] == -5


def test_avg_pool2d_count_include_pad(kernel_set):
    x = np.ones((1, 1, 2, 2), dtype=np.float32)
    np.testing.assert_allclose(avg_pool2d(x, 3, 1, 1).data[0, 0], np.full((2, 2), 4 / 9))
    np.testing.assert_allclose(avg_pool2d(x, 3, 1, 1, count_include_pad=False).data, 1.0)


def test_pool_bad_inputs():
    x = np.zeros((1, 2, 4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"3-D \(unbatched\) or 4-D input.*\(4, 5\)"):
        max_pool2d(x[0, 0], 2)
    with pytest.raises(ValueError, match=r"only the batch dimension may be empty.*\(1, 0, 4, 5\)"):
        max_pool2d(x[:, :0], 2)
    with pytest.raises(ValueError, match=r"padding \(2, 2\).*half of kernel_size \(3, 3\)"):
        max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"padding \(-1, -1\) must be non-negative"):
        avg_pool2d(x, 3, padding=-1)
    with pytest.raises(ValueError, match=r"kernel_size \(6, 6\).*\(1, 2, 4, 5\)"):
        max_pool2d(x, 6)
    with pytest.raises(ValueError, match=r"and dilation \(0, 0\) must be positive"):
        max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match=r"\(2, 2\) .*dilation \(4, 4\).*\(1, 2, 4, 5\)"):
        max_pool2d(x, 2, dilation=4)
    with pytest.raises(ValueError, match=r"stride \(0, 0\) and dilation \(1, 1\) must be positive"):
        avg_pool2d(x, 2, stride=0)
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a pair.*\(2, 2, 2\)"):
        max_pool2d(x, (2, 2, 2))
    with pytest.raises(TypeError, match=r"floating-point input, got dtype int64"):
        max_pool2d(np.zeros((1, 1, 4, 4), dtype=np.int64), 2)
