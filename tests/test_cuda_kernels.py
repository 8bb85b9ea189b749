"""The GPU kernel set against the reference set, every contract function, on tiny shapes.

On a machine with a GPU the inputs are CuPy arrays and the kernels run on the device. Without
one, tests/conftest.py has switched on numba's CUDA simulator, which runs every GPU thread as
a Python thread on NumPy arrays: the same kernel code and index arithmetic (on a smaller
grid, see kernels/cuda/_launch.py), so a wrong index or a missed item shows up here too. A
data race would not (the simulated threads take turns): the kernels avoid shared writes by
construction, and say so where they do not. The simulator is slow, hence the tiny shapes.
"""

import inspect

import numpy as np
import pytest
from numba.core import config

import tinyunet as tu
import tinyunet.kernels.reference as R
from tinyunet.ops.interpolate import _sizes_and_scales

ON_GPU = tu.cuda.is_available()
if not ON_GPU and not config.ENABLE_CUDASIM:
    pytest.skip("no CUDA device, and numba's CUDA simulator is off (NUMBA_ENABLE_CUDASIM=0)",
                allow_module_level=True)

import tinyunet.kernels.cuda as G  # noqa: E402  (after the check: it imports numba.cuda)


def dev(a):
    """An input as the GPU set sees it: CuPy on a GPU, NumPy under the simulator."""
    if ON_GPU:
        import cupy

        return cupy.asarray(a)
    return a


def host(a):
    """A GPU-set result on the host, after checking it was left where its inputs live."""
    assert tu.backend.is_gpu_array(a) == ON_GPU, type(a)
    return a.get() if ON_GPU else a


def close(gpu, ref, dtype=np.float64):
    out = host(gpu)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_the_gpu_set_has_the_contract_names_and_signatures():
    assert sorted(G.__all__) == sorted(R.__all__)
    for name in R.__all__:
        assert inspect.signature(getattr(G, name)) == inspect.signature(getattr(R, name)), name


# ----- convolution --------------------------------------------------------------------------

CONV = [  # (weight shape, stride, padding, dilation)
    ((3, 2, 3, 3), (1, 1), (1, 1), (1, 1)),
    ((3, 2, 3, 2), (2, 1), (0, 1), (1, 1)),
    ((2, 2, 2, 3), (1, 2), (2, 1), (2, 1)),
    ((3, 2, 1, 1), (1, 1), (0, 0), (1, 1)),  # pointwise: no im2col at all
]


@pytest.mark.parametrize("w_shape, stride, padding, dilation", CONV)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(rng, w_shape, stride, padding, dilation, bias):
    x, w = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0]) if bias else None
    ref = R.conv2d(x, w, b, stride, padding, dilation)
    close(G.conv2d(dev(x), dev(w), None if b is None else dev(b), stride, padding, dilation), ref)


@pytest.mark.parametrize("w_shape, stride, padding, dilation", CONV)
def test_conv2d_grad_weight(rng, w_shape, stride, padding, dilation):
    x = rng.standard_normal((2, 2, 5, 4))
    out = R.conv2d(x, rng.standard_normal(w_shape), None, stride, padding, dilation).shape
    for shrink in (0, 1):  # grad_y may be smaller than the natural output (transposed conv)
        g = rng.standard_normal(out[:2] + (out[2] - shrink * (out[2] > 1), out[3]))
        ref = R.conv2d_grad_weight(x, g, w_shape[2:], stride, padding, dilation)
        close(G.conv2d_grad_weight(dev(x), dev(g), w_shape[2:], stride, padding, dilation), ref)


TRANSPOSED = [  # (weight shape (C_in, C_out, kH, kW), stride, padding, output_padding, dilation)
    ((2, 3, 2, 2), (2, 2), (0, 0), (0, 0), (1, 1)),  # the U-Net's up-convolution
    ((2, 3, 3, 3), (2, 1), (1, 0), (1, 0), (1, 1)),
    ((2, 2, 3, 2), (1, 2), (1, 1), (0, 1), (2, 1)),
    ((2, 3, 1, 1), (1, 1), (0, 0), (0, 0), (1, 1)),
]


@pytest.mark.parametrize("w_shape, stride, padding, output_padding, dilation", TRANSPOSED)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d(rng, w_shape, stride, padding, output_padding, dilation, bias):
    x, w = rng.standard_normal((2, 2, 3, 4)), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1]) if bias else None
    ref = R.conv_transpose2d(x, w, b, stride, padding, output_padding, dilation)
    out = G.conv_transpose2d(dev(x), dev(w), None if b is None else dev(b), stride, padding,
                             output_padding, dilation)
    close(out, ref)


def test_conv_batches_are_split_to_fit_the_column_budget(rng, monkeypatch):
    """With a budget below one sample's columns, every sample is its own chunk."""
    monkeypatch.setattr(G.conv, "COLS_BUDGET", 1)
    assert G.conv._chunks(3, 100) == [(0, 1), (1, 2), (2, 3)]
    x, w = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((2, 2, 3, 3))
    close(G.conv2d(dev(x), dev(w), None, (1, 1), (1, 1), (1, 1)),
          R.conv2d(x, w, None, (1, 1), (1, 1), (1, 1)))
    close(G.conv_transpose2d(dev(x), dev(w), None, (2, 2), (1, 1), (1, 1), (1, 1)),
          R.conv_transpose2d(x, w, None, (2, 2), (1, 1), (1, 1), (1, 1)))
    g = rng.standard_normal((3, 2, 4, 4))
    close(G.conv2d_grad_weight(dev(x), dev(g), (3, 3), (1, 1), (1, 1), (1, 1)),
          R.conv2d_grad_weight(x, g, (3, 3), (1, 1), (1, 1), (1, 1)))


def test_float32_stays_float32(rng):
    x = rng.standard_normal((1, 2, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    close(G.conv2d(dev(x), dev(w), None, (1, 1), (1, 1), (1, 1)),
          R.conv2d(x, w, None, (1, 1), (1, 1), (1, 1)), np.float32)
    y, argmax = G.max_pool2d(dev(x), (2, 2), (2, 2), (0, 0), (1, 1), False)
    close(y, R.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)[0], np.float32)
    up = G.upsample_bilinear2d(dev(x), (7, 9), False, (5 / 7, 4 / 9))
    close(up, R.upsample_bilinear2d(x, (7, 9), False, (5 / 7, 4 / 9)), np.float32)


# ----- pooling ------------------------------------------------------------------------------

POOL = [  # (kernel_size, stride, padding, dilation, ceil_mode)
    ((2, 2), (2, 2), (0, 0), (1, 1), False),  # the U-Net's downsampling
    ((3, 3), (1, 2), (1, 1), (1, 1), False),  # overlapping windows, padded
    ((2, 3), (1, 1), (1, 0), (1, 1), False),
    ((2, 2), (2, 3), (1, 1), (2, 1), True),   # dilated taps, a partial last window
]


@pytest.mark.parametrize("k, s, p, d, ceil_mode", POOL)
def test_max_pool2d_forward_and_backward(rng, k, s, p, d, ceil_mode):
    x = rng.integers(-3, 3, size=(1, 2, 5, 4)).astype(np.float64)  # many ties
    x[0, 1, 2, 1] = np.nan  # propagates
    y_ref, argmax_ref = R.max_pool2d(x, k, s, p, d, ceil_mode)
    y, argmax = G.max_pool2d(dev(x), k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(host(argmax), argmax_ref)
    np.testing.assert_array_equal(host(y), y_ref)  # NaN-aware, exact: a max is a copy
    assert host(argmax).dtype == np.int64

    g = rng.standard_normal(y_ref.shape)
    close(G.max_pool2d_backward(dev(g), argmax, x.shape),
          R.max_pool2d_backward(g, argmax_ref, x.shape))


@pytest.mark.parametrize("k, s, p, _, ceil_mode", POOL)
@pytest.mark.parametrize("count_include_pad, divisor", [(True, None), (False, None), (True, -3)])
def test_avg_pool2d_forward_and_backward(rng, k, s, p, _, ceil_mode, count_include_pad,
                                         divisor):
    x = rng.standard_normal((1, 2, 5, 4))
    y_ref = R.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor)
    close(G.avg_pool2d(dev(x), k, s, p, ceil_mode, count_include_pad, divisor), y_ref)
    g = rng.standard_normal(y_ref.shape)
    close(G.avg_pool2d_backward(dev(g), x.shape, k, s, p, count_include_pad, divisor),
          R.avg_pool2d_backward(g, x.shape, k, s, p, count_include_pad, divisor))


@pytest.mark.parametrize("out", [(1, 1), (2, 3), (4, 7)])
def test_adaptive_avg_pool2d_forward_and_backward(rng, out):
    x = rng.standard_normal((1, 2, 5, 4))
    close(G.adaptive_avg_pool2d(dev(x), out), R.adaptive_avg_pool2d(x, out))
    g = rng.standard_normal((1, 2, *out))
    close(G.adaptive_avg_pool2d_backward(dev(g), x.shape),
          R.adaptive_avg_pool2d_backward(g, x.shape))


# ----- upsampling ---------------------------------------------------------------------------

RESIZE = [  # (size, scale_factor) for a (1, 2, 5, 4) input
    (None, 2),  # the U-Net's 2x upsampling
    (None, 1.5),
    ((3, 7), None),  # shrink one axis, grow the other
    ((1, 4), None),  # a single output row, an unchanged axis
]


@pytest.mark.parametrize("size, scale_factor", RESIZE)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_upsample_nearest2d(rng, size, scale_factor, mode):
    x = rng.standard_normal((1, 2, 5, 4))
    out, scales = _sizes_and_scales(x.shape[2:], size, scale_factor, mode)
    exact = mode == "nearest-exact"
    close(G.upsample_nearest2d(dev(x), out, scales, exact),
          R.upsample_nearest2d(x, out, scales, exact))
    g = rng.standard_normal((1, 2, *out))
    close(G.upsample_nearest2d_backward(dev(g), x.shape, scales, exact),
          R.upsample_nearest2d_backward(g, x.shape, scales, exact))


@pytest.mark.parametrize("size, scale_factor", RESIZE)
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_bilinear2d(rng, size, scale_factor, align_corners):
    x = rng.standard_normal((1, 2, 5, 4))
    out, scales = _sizes_and_scales(x.shape[2:], size, scale_factor, "bilinear")
    close(G.upsample_bilinear2d(dev(x), out, align_corners, scales),
          R.upsample_bilinear2d(x, out, align_corners, scales))
    g = rng.standard_normal((1, 2, *out))
    close(G.upsample_bilinear2d_backward(dev(g), x.shape, align_corners, scales),
          R.upsample_bilinear2d_backward(g, x.shape, align_corners, scales))


# ----- the op layer on the GPU set ------------------------------------------------------------


@pytest.mark.parametrize("up_mode", ["transposed", "bilinear"])
def test_a_unet_trains_through_the_gpu_kernels(monkeypatch, up_mode):
    """Every op routed to the GPU set (here on NumPy arrays): a UNet's forward and backward
    match the numba set's, so the ops hand the GPU kernels the right arguments."""
    import tinyunet.ops.conv as conv_ops
    from tinyunet.models import UNet

    def run(kernels):
        monkeypatch.setattr(tu.backend, "kernels", lambda *arrays: kernels)
        monkeypatch.setattr(conv_ops, "kernels", lambda *arrays: kernels)
        tu.manual_seed(0)
        model = UNet(base_channels=4, depth=2, up_mode=up_mode).double()
        x = tu.Tensor(np.random.default_rng(1).standard_normal((1, 1, 8, 8)))
        y = model(x)
        (y * y).sum().backward()
        return y.numpy(), [p.grad for p in model.parameters()]

    import tinyunet.kernels.numba_cpu as numba_cpu

    y_gpu, grads_gpu = run(G)
    y_cpu, grads_cpu = run(numba_cpu)
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=1e-10, atol=1e-12)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu, strict=True):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("size, scale_factor", RESIZE)
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_bicubic2d(rng, size, scale_factor, align_corners):
    x = rng.standard_normal((1, 2, 5, 4))
    out, scales = _sizes_and_scales(x.shape[2:], size, scale_factor, "bicubic")
    close(G.upsample_bicubic2d(dev(x), out, align_corners, scales),
          R.upsample_bicubic2d(x, out, align_corners, scales))
    g = rng.standard_normal((1, 2, *out))
    close(G.upsample_bicubic2d_backward(dev(g), x.shape, align_corners, scales),
          R.upsample_bicubic2d_backward(g, x.shape, align_corners, scales))
