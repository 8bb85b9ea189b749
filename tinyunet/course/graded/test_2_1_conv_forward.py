"""Task 2.1: conv2d forward as loops, against a NumPy oracle on freshly drawn shapes."""

import numpy as np
import pytest
from graded_checks import assert_close, conv2d, conv_out

import tinyunet.kernels.reference.conv as kernels


def _case(rng, stride=(1, 1), padding=(0, 0), dilation=(1, 1), bias=True):
    N, C_in, C_out = (int(n) for n in rng.integers(1, 3, size=3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    size = tuple(int(dilation[i] * (kernel[i] - 1) + 1 + rng.integers(1, 5)) for i in range(2))
    x = rng.standard_normal((N, C_in) + size)
    w = rng.standard_normal((C_out, C_in) + kernel)
    b = rng.standard_normal(C_out) if bias else None
    return x, w, b, stride, padding, dilation


def _check(case, what):
    x, w, b, stride, padding, dilation = case
    y = kernels.conv2d(x, w, b, stride, padding, dilation)
    assert_close(y, conv2d(x, w, b, stride, padding, dilation),
                 f"conv2d of x {x.shape}, w {w.shape}, stride {stride}, padding {padding}, "
                 f"dilation {dilation} ({what})")


@pytest.mark.task("2.1", points=1)
def test_output_size(rng):
    x, w, b, *hyper = _case(rng, (2, 1), (1, 2), (1, 2))
    y = kernels.conv2d(x, w, b, *hyper)
    expected = tuple(conv_out(x.shape[2 + i], w.shape[2 + i], *(h[i] for h in hyper))
                     for i in range(2))
    assert np.shape(y) == x.shape[:1] + w.shape[:1] + expected


@pytest.mark.task("2.1", points=2)
@pytest.mark.parametrize("case", range(3))
def test_plain(case, rng):
    _check(_case(rng), "stride 1, no padding")


@pytest.mark.task("2.1", points=2)
@pytest.mark.parametrize("case", range(2))
def test_padding(case, rng):
    padding = tuple(int(p) for p in rng.integers(1, 3, size=2))
    _check(_case(rng, padding=padding), "zero padding")


@pytest.mark.task("2.1", points=2)
@pytest.mark.parametrize("stride, dilation", [((2, 2), (1, 1)), ((1, 1), (2, 2)),
                                              ((2, 3), (3, 2)), ((3, 1), (1, 2))])
def test_stride_and_dilation(stride, dilation, rng):
    padding = tuple(int(p) for p in rng.integers(0, 2, size=2))
    _check(_case(rng, stride, padding, dilation), "stride and dilation")


@pytest.mark.task("2.1", points=1)
def test_without_bias_in_float32(rng):
    x, w, _, *hyper = _case(rng, padding=(1, 1), bias=False)
    x, w = x.astype(np.float32), w.astype(np.float32)
    y = kernels.conv2d(x, w, None, *hyper)
    assert np.asarray(y).dtype == np.float32, "the output keeps the input's dtype"
    assert_close(y, conv2d(x, w, None, *hyper), "conv2d without bias, float32", rtol=1e-4,
                 atol=1e-5)
