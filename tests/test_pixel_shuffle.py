"""pixel_shuffle / pixel_unshuffle against PyTorch, gradcheck, errors; the sub-pixel layer and
ICNR, asserted exactly (including the tiling bug, which a one-channel test would miss)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
import tinyunet.functional as F
from tinyunet.lab.checkerboard import icnr_tiled_wrong_
from tinyunet.nn.upsample import PixelShuffle, PixelUnshuffle, SubPixelUpsample, icnr_
from tinyunet.ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle


@st.composite
def shuffle_cases(draw):
    """(x, r) with x (*batch, C*r*r, H, W): zero to two batch dims, odd sizes."""
    r = draw(st.integers(1, 3))
    batch = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.standard_normal(batch + (C * r * r, H, W)).astype(np.float32), r


@given(case=shuffle_cases())
def test_pixel_shuffle_matches_torch(torch, case):
    x, r = case
    X = tu.Tensor(x, requires_grad=True)
    y = pixel_shuffle(X, r)
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(grad)
    t = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.pixel_shuffle(t, r)
    ty.backward(torch.tensor(grad))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(X.grad, t.grad.numpy())


@given(case=shuffle_cases())
def test_pixel_unshuffle_matches_torch_and_inverts_the_shuffle(torch, case):
    x, r = case
    z = pixel_shuffle(x, r).data  # (*, C, H*r, W*r): a valid unshuffle input
    Z = tu.Tensor(z, requires_grad=True)
    y = pixel_unshuffle(Z, r)
    grad = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    y.backward(grad)
    t = torch.tensor(z, requires_grad=True)
    ty = torch.nn.functional.pixel_unshuffle(t, r)
    ty.backward(torch.tensor(grad))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(Z.grad, t.grad.numpy())
    np.testing.assert_array_equal(y.data, x)  # the exact inverse


def test_the_phase_ordering_by_hand():
    """Channel c*r*r + a*r + b becomes phase (a, b) of output channel c."""
    x = np.arange(8, dtype=np.float32).reshape(1, 8, 1, 1)  # 2 channels x 4 phases, 1 pixel
    y = pixel_shuffle(x, 2).data
    np.testing.assert_array_equal(y[0, 0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(y[0, 1], [[4, 5], [6, 7]])


@settings(max_examples=5)
@given(case=shuffle_cases())
def test_gradcheck(case):
    x, r = case
    x = tu.Tensor(x.astype(np.float64), requires_grad=True)
    assert tu.gradcheck(lambda t: pixel_shuffle(t, r), (x,))
    z = tu.Tensor(pixel_shuffle(x.data, r).data, requires_grad=True)
    assert tu.gradcheck(lambda t: pixel_unshuffle(t, r), (z,))


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"has 6 channels, which is not divisible by .* 4"):
        pixel_shuffle(np.zeros((1, 6, 2, 2), np.float32), 2)
    with pytest.raises(ValueError, match=r"spatial size \(5, 4\).*downscale_factor 2"):
        pixel_unshuffle(np.zeros((1, 1, 5, 4), np.float32), 2)
    with pytest.raises(ValueError, match=r"at least 3 dims.*\(4, 4\)"):
        pixel_shuffle(np.zeros((4, 4), np.float32), 2)
    with pytest.raises(ValueError, match="positive int, got 0"):
        pixel_shuffle(np.zeros((1, 4, 2, 2), np.float32), 0)


def test_modules_match_torch_modules(torch):
    x = np.random.default_rng(0).standard_normal((2, 18, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(PixelShuffle(3)(x).data,
                                  torch.nn.PixelShuffle(3)(torch.tensor(x)).numpy())
    y = PixelShuffle(3)(x).data
    np.testing.assert_array_equal(PixelUnshuffle(3)(y).data,
                                  torch.nn.PixelUnshuffle(3)(torch.tensor(y)).numpy())
    assert repr(PixelShuffle(3)) == "PixelShuffle(upscale_factor=3)"
    assert repr(PixelUnshuffle(2)) == "PixelUnshuffle(downscale_factor=2)"


# ----- SubPixelUpsample and ICNR ----------------------------------------------------------------
def _conv_then_nearest(x, W0, b0, r):
    return F.interpolate(F.conv2d(x, W0, b0, padding=W0.shape[-1] // 2), scale_factor=r).data


def _nearest_then_dilated_conv(x, W0, b0, r):
    k = W0.shape[-1]
    up = F.interpolate(x, scale_factor=r)
    return F.conv2d(up, W0, b0, padding=r * (k // 2), dilation=r).data


@pytest.mark.parametrize("r, c_in, c_out, k", [(2, 3, 4, 3), (3, 2, 5, 3), (2, 1, 1, 1)])
def test_icnr_makes_subpixel_equal_to_nearest_upsampling_exactly(kernel_set, r, c_in, c_out, k):
    """conv + shuffle == nearest(conv(x, W0)) == dilated conv of nearest(x), in float64: to
    the last bit with the reference loops (the same products summed in the same order), to
    rounding (1e-12) with BLAS, whose summation order depends on the matrix sizes. The
    tiling bug misses by O(1) (next test)."""
    tu.manual_seed(0)
    layer = SubPixelUpsample(c_in, c_out, scale_factor=r, kernel_size=k).double()
    W0, b0 = layer.conv.weight.data[:: r * r], layer.conv.bias.data[:: r * r]
    x = np.random.default_rng(0).standard_normal((2, c_in, 4, 5))
    y = layer(x).data
    assert y.shape == (2, c_out, 4 * r, 5 * r)
    tolerance = 0 if kernel_set == "reference" else 1e-12
    np.testing.assert_allclose(y, _conv_then_nearest(x, W0, b0, r), rtol=0, atol=tolerance)
    np.testing.assert_allclose(y, _nearest_then_dilated_conv(x, W0, b0, r), rtol=0,
                               atol=max(tolerance, 1e-12))


def test_icnr_repeats_each_kernel_in_place():
    w = np.zeros((12, 2, 3, 3))
    tu.manual_seed(0)
    icnr_(w, 2)
    for c in range(3):
        for p in range(4):
            np.testing.assert_array_equal(w[4 * c + p], w[4 * c])
    assert not np.array_equal(w[0], w[4])  # different channels, different kernels


def test_the_tiling_bug_is_caught_with_more_than_one_channel():
    """Tiling the kernel stack puts kernel W0[(c*4 + p) mod C] on phase p of channel c: right
    when C = 1, wrong otherwise -- and the exact comparison says so."""
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4))
    for c_out, should_match in ((1, True), (3, False)):
        tu.manual_seed(0)
        layer = SubPixelUpsample(2, c_out, bias=False).double()
        icnr_tiled_wrong_(layer.conv.weight)
        W0 = layer.conv.weight.data[:c_out]  # the base kernels the bug meant to use
        matches = np.allclose(layer(x).data, _conv_then_nearest(x, W0, None, 2), atol=1e-12)
        assert matches == should_match


def test_icnr_equalises_biases_and_plain_init_does_not():
    tu.manual_seed(0)
    b = SubPixelUpsample(4, 3).conv.bias.data.reshape(3, 4)
    assert np.all(b == b[:, :1])
    tu.manual_seed(0)
    w = SubPixelUpsample(4, 3, icnr=False).conv.weight.data
    assert not np.array_equal(w[0], w[1])


def test_subpixel_layer_trains_and_has_torch_state_dict_names():
    tu.manual_seed(0)
    layer = SubPixelUpsample(2, 3)
    assert list(layer.state_dict()) == ["conv.weight", "conv.bias"]
    assert layer.conv.weight.shape == (12, 2, 3, 3)
    x = tu.Tensor(np.ones((1, 2, 3, 3), np.float32))
    (layer(x) ** 2).sum().backward()
    assert layer.conv.weight.grad.shape == (12, 2, 3, 3)
    assert np.abs(layer.conv.weight.grad).sum() > 0


def test_icnr_and_subpixel_errors():
    with pytest.raises(ValueError, match=r"divisible by 4; got shape \(6, 2, 3, 3\)"):
        icnr_(np.zeros((6, 2, 3, 3)), 2)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        SubPixelUpsample(2, 2, kernel_size=2)
