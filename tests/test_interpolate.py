"""interpolate (nearest, bilinear): against PyTorch, reference vs numba, gradcheck, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.kernels import numba_cpu, reference
from tinyunet.ops.interpolate import interpolate

# (mode, align_corners) as a user would pass them
MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]
# scale factors where PyTorch's shortcuts (out == in, out == 2 in) and float32 rounding bite
SCALES = [2, 3, 0.5, 1.5, 1.7, 2.1, 1.2, 0.75, (2, 0.6), (1.3, 2.5)]


@st.composite
def resize_cases(draw, max_size=6):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    if draw(st.booleans()):
        how = {"size": (draw(st.integers(1, 2 * max_size)), draw(st.integers(1, 2 * max_size)))}
    else:
        factor = draw(st.sampled_from(SCALES))
        fh, fw = factor if isinstance(factor, tuple) else (factor, factor)
        if int(H * fh) < 1 or int(W * fw) < 1:  # would give an empty output
            factor = 2
        how = {"scale_factor": factor}
    mode, align_corners = draw(st.sampled_from(MODES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    return x, dict(how, mode=mode, align_corners=align_corners)


def _check_against_torch(torch, x, kw, rtol=1e-5, atol=1e-5):
    X = tu.Tensor(x, requires_grad=True)
    y = interpolate(X, **kw)
    t = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.interpolate(t, **kw)
    assert y.shape == tuple(ty.shape)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=rtol, atol=atol)
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
    y.backward(grad)
    ty.backward(torch.tensor(grad))
    np.testing.assert_allclose(X.grad, t.grad.numpy(), rtol=rtol, atol=atol)


@given(case=resize_cases())
def test_interpolate_matches_torch(kernel_set, torch, case):
    x, kw = case
    _check_against_torch(torch, x, kw)


@pytest.mark.parametrize("mode, align_corners", MODES)
@pytest.mark.parametrize("how", [{"scale_factor": 2}, {"size": (7, 3)}, {"size": (16, 13)},
                                 {"scale_factor": 1.1}, {"scale_factor": (2.1, 0.4)}])
def test_interpolate_fixed_cases_match_torch(kernel_set, torch, mode, align_corners, how):
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 8))
    _check_against_torch(torch, x, dict(how, mode=mode, align_corners=align_corners),
                         rtol=1e-10, atol=1e-10)  # float64: PyTorch's arithmetic, to the bit


def test_nearest_scale_2_repeats_every_pixel(kernel_set):
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32)
    y = interpolate(x, scale_factor=2)
    np.testing.assert_array_equal(y.data, x.repeat(2, axis=2).repeat(2, axis=3))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_an_unchanged_axis_is_copied(kernel_set, mode):
    # PyTorch's rule: floor(5 * 1.1) = 5 rows come out, and they are the input rows, not
    # samples at src = dst / 1.1
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 3))
    np.testing.assert_array_equal(interpolate(x, scale_factor=1.1, mode=mode).data, x)


def test_bilinear_align_corners_keeps_the_corners(kernel_set):
    x = np.random.default_rng(0).standard_normal((1, 1, 3, 4))
    y = interpolate(x, size=(7, 10), mode="bilinear", align_corners=True).data
    np.testing.assert_allclose(y[..., ::3, ::3], x)  # output pixel (3i, 3j) sits on input (i, j)
    y = interpolate(x, size=(3, 4), mode="bilinear").data
    np.testing.assert_allclose(y, x)                 # same size: identity


@settings(max_examples=15)
@given(case=resize_cases(max_size=5))
def test_reference_and_numba_kernels_agree(case):
    x, kw = case
    y = interpolate(x, **kw)  # only to get PyTorch's output size and scales from the op layer
    H_out, W_out = y.shape[2:]
    H, W = x.shape[2:]
    if "size" in kw:
        scales = (H / H_out, W / W_out)
    else:
        f = kw["scale_factor"]
        fh, fw = f if isinstance(f, tuple) else (f, f)
        scales = (1 / fh, 1 / fw)
    g = np.random.default_rng(2).standard_normal(y.shape)
    for dtype in (np.float32, np.float64):
        xd, gd = x.astype(dtype), g.astype(dtype)
        if kw["mode"] == "nearest":
            out = [ks.upsample_nearest2d(xd, (H_out, W_out), scales)
                   for ks in (reference, numba_cpu)]
            back = [ks.upsample_nearest2d_backward(gd, x.shape, scales)
                    for ks in (reference, numba_cpu)]
        else:
            ac = kw["align_corners"]
            out = [ks.upsample_bilinear2d(xd, (H_out, W_out), ac, scales)
                   for ks in (reference, numba_cpu)]
            back = [ks.upsample_bilinear2d_backward(gd, x.shape, ac, scales)
                    for ks in (reference, numba_cpu)]
        assert out[0].dtype == out[1].dtype == back[0].dtype == back[1].dtype == dtype
        np.testing.assert_allclose(out[0], out[1], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(back[0], back[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode, align_corners", MODES)
@pytest.mark.parametrize("how", [{"scale_factor": 2}, {"size": (5, 3)}, {"scale_factor": 1.5}])
def test_interpolate_gradcheck(kernel_set, mode, align_corners, how):
    X = tu.Tensor(np.random.default_rng(0).standard_normal((1, 2, 3, 3)), requires_grad=True)
    assert tu.gradcheck(lambda t: interpolate(t, mode=mode, align_corners=align_corners, **how),
                        (X,))


def test_interpolate_bad_inputs():
    x = np.zeros((1, 2, 4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"4-D input.*\(2, 4, 5\)"):
        interpolate(x[0], scale_factor=2)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        interpolate(x, size=(8, 10), scale_factor=2)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        interpolate(x)
    with pytest.raises(ValueError, match="align_corners can only be set with mode='bilinear'"):
        interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="unknown mode 'bicubic'"):
        interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"input \(H, W\) = \(4, 5\).*output \(H, W\) = \(0, 1\)"):
        interpolate(x, scale_factor=0.2)
    with pytest.raises(ValueError, match=r"scale_factor must be positive"):
        interpolate(x, scale_factor=-2)
    with pytest.raises(TypeError, match=r"size must be a number or a pair.*\(1, 2, 3\)"):
        interpolate(x, size=(1, 2, 3))
