"""interpolate (nearest, nearest-exact, linear, bilinear, trilinear, area; 3-D, 4-D and 5-D
inputs): against PyTorch, reference vs numba, gradcheck, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.kernels import numba_cpu, reference
from tinyunet.ops.interpolate import interpolate

# (mode, align_corners) as a user would pass them
MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True),
         ("area", None)]
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
        if kw["mode"] in ("nearest", "nearest-exact"):
            exact = kw["mode"] == "nearest-exact"
            out = [ks.upsample_nearest2d(xd, (H_out, W_out), scales, exact)
                   for ks in (reference, numba_cpu)]
            back = [ks.upsample_nearest2d_backward(gd, x.shape, scales, exact)
                    for ks in (reference, numba_cpu)]
        elif kw["mode"] == "area":
            out = [ks.adaptive_avg_pool2d(xd, (H_out, W_out)) for ks in (reference, numba_cpu)]
            back = [ks.adaptive_avg_pool2d_backward(gd, x.shape) for ks in (reference, numba_cpu)]
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


# every mode of every rank, the OpInfo-like grid: sizes, factors, recompute_scale_factor
RANKED = [(3, "nearest", None), (3, "nearest-exact", None), (3, "linear", False),
          (3, "linear", True), (3, "area", None), (5, "nearest", None),
          (5, "nearest-exact", None), (5, "trilinear", False), (5, "trilinear", True),
          (5, "area", None)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rank, mode, align_corners", RANKED)
@pytest.mark.parametrize("how", [{"size": 3}, {"size": 7}, {"scale_factor": 1.7},
                                 {"scale_factor": 0.6},
                                 {"scale_factor": 1.7, "recompute_scale_factor": True}])
def test_1d_and_3d_inputs_match_torch(kernel_set, torch, dtype, rank, mode, align_corners, how):
    """(N, C, L) is an image of height 1 and (N, C, D, H, W) two 2-D passes (see the op's
    docstring): both give PyTorch's pixels and gradients."""
    shape = (2, 2, 5, 3, 4)[:rank]
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    _check_against_torch(torch, x, dict(how, mode=mode, align_corners=align_corners),
                         rtol=tol, atol=tol)


@pytest.mark.parametrize("how", [{"scale_factor": 0.5}, {"scale_factor": 1.04},
                                 {"size": (3, 7)}, {"scale_factor": (2, 0.7)}])
def test_nearest_exact_picks_the_centred_pixel(kernel_set, torch, how):
    x = np.random.default_rng(0).standard_normal((1, 2, 25, 6))
    _check_against_torch(torch, x, dict(how, mode="nearest-exact"), rtol=0, atol=0)
    halved = interpolate(np.arange(8.0).reshape(1, 1, 1, 8), size=(1, 4), mode="nearest-exact")
    np.testing.assert_array_equal(halved.data.ravel(), [1, 3, 5, 7])  # "nearest" gives 0 2 4 6


def test_area_is_the_adaptive_average(kernel_set, torch):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 5))
    y = interpolate(x, size=(3, 2), mode="area")
    np.testing.assert_allclose(y.data, torch.nn.functional.adaptive_avg_pool2d(
        torch.tensor(x), (3, 2)).numpy(), rtol=1e-12)
    # scale_factor with area recomputes the scale (PyTorch's default for this mode)
    _check_against_torch(torch, x, {"scale_factor": 0.6, "mode": "area"}, 1e-12, 1e-12)


def test_recompute_scale_factor_maps_by_in_over_out(kernel_set, torch):
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 5))
    for mode, corners in (("nearest", None), ("bilinear", False)):
        kw = {"scale_factor": 1.7, "mode": mode, "align_corners": corners}
        kept = interpolate(x, **kw).data
        recomputed = interpolate(x, recompute_scale_factor=True, **kw).data
        assert kept.shape == recomputed.shape == (1, 1, 6, 8)
        np.testing.assert_array_equal(recomputed, interpolate(x, size=(6, 8), mode=mode,
                                                              align_corners=corners).data)
        assert not np.array_equal(kept, recomputed)  # 1/1.7 is not 4/6 nor 5/8
        _check_against_torch(torch, x, dict(kw, recompute_scale_factor=True), 1e-12, 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [None, True])
@pytest.mark.parametrize("how", [{"size": (7, 9)}, {"size": (3, 4)}, {"scale_factor": 1.7},
                                 {"scale_factor": 0.6}, {"scale_factor": (2, 0.5)}])
def test_bicubic_matches_torch(kernel_set, torch, dtype, align_corners, how):
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    _check_against_torch(torch, x, dict(how, mode="bicubic", align_corners=align_corners),
                         rtol=tol, atol=tol)


def test_bicubic_weights_sum_to_one_and_overshoot(kernel_set):
    """Keys' kernel reproduces constants (its four weights sum to 1) but, having negative
    lobes, rings past a step edge where bilinear stays between the two levels."""
    flat = np.full((1, 1, 4, 5), 3.0)
    np.testing.assert_allclose(interpolate(flat, scale_factor=1.7, mode="bicubic").data, 3.0)
    step = np.repeat([[0.0] * 4 + [1.0] * 4], 4, axis=0)[None, None]
    cubic = interpolate(step, scale_factor=3, mode="bicubic").data
    linear = interpolate(step, scale_factor=3, mode="bilinear").data
    assert cubic.min() < 0 and cubic.max() > 1
    assert linear.min() >= 0 and linear.max() <= 1


@settings(max_examples=10)
@given(case=resize_cases(max_size=5), align_corners=st.booleans())
def test_bicubic_reference_and_numba_kernels_agree(case, align_corners):
    x, _ = case
    H, W = x.shape[2:]
    out, scales = (H + 2, max(W - 1, 1)), (0.8, 1.3)
    g = np.random.default_rng(2).standard_normal(x.shape[:2] + out)
    for dtype in (np.float32, np.float64):
        xd, gd = x.astype(dtype), g.astype(dtype)
        y = [ks.upsample_bicubic2d(xd, out, align_corners, scales) for ks in (reference, numba_cpu)]
        b = [ks.upsample_bicubic2d_backward(gd, x.shape, align_corners, scales)
             for ks in (reference, numba_cpu)]
        assert y[0].dtype == y[1].dtype == b[0].dtype == b[1].dtype == dtype
        np.testing.assert_allclose(y[0], y[1], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(b[0], b[1], rtol=1e-6, atol=1e-6)


def test_torch_bicubic_backward_copies_an_axis_its_forward_does_not(kernel_set, torch):
    """With scale_factor 1.1 a 5 x 6 image stays 5 x 6: PyTorch's bicubic forward still maps
    through 1 / 1.1 (so do we), but its backward takes the copy shortcut, so its gradient is
    not its forward's. Ours follows the forward (gradcheck)."""
    x = np.random.default_rng(0).standard_normal((1, 1, 5, 6))
    t = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.interpolate(t, scale_factor=1.1, mode="bicubic")
    X = tu.Tensor(x, requires_grad=True)
    y = interpolate(X, scale_factor=1.1, mode="bicubic")
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert not np.allclose(y.data, x)      # not a copy
    ty.sum().backward()
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 1)   # torch: the gradient of a copy
    assert not np.allclose(X.grad, 1)
    assert tu.gradcheck(lambda v: interpolate(v, scale_factor=1.1, mode="bicubic"), (X,))


def test_torch_1d_nearest_backward_disagrees_with_its_forward(kernel_set, torch):
    """PyTorch's 1-D and 3-D nearest forward maps index i to floor(i / 1.04), but its backward
    takes the 2-D kernel's shortcut (out == in: a copy) and so is not the forward's gradient.
    Ours follows the forward, as gradcheck demands; torch's own gradient differs here."""
    x = np.random.default_rng(0).standard_normal((1, 1, 6))
    t = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.interpolate(t, scale_factor=1.04)
    X = tu.Tensor(x, requires_grad=True)
    y = interpolate(X, scale_factor=1.04)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())       # 0 0 1 2 3 4
    np.testing.assert_array_equal(y.data[0, 0], x[0, 0, [0, 0, 1, 2, 3, 4]])
    ty.sum().backward()
    y.sum().backward()
    np.testing.assert_array_equal(X.grad[0, 0], [2, 1, 1, 1, 1, 0])  # pixel 0 read twice
    np.testing.assert_array_equal(t.grad.numpy()[0, 0], [1, 1, 1, 1, 1, 1])  # torch: a copy
    assert tu.gradcheck(lambda v: interpolate(v, scale_factor=1.04), (X,))


@pytest.mark.parametrize("mode, shape", [("nearest-exact", (1, 2, 4, 3)), ("area", (1, 2, 5, 3)),
                                         ("bicubic", (1, 1, 4, 3)),
                                         ("linear", (1, 2, 4)), ("trilinear", (1, 1, 3, 2, 3)),
                                         ("nearest", (1, 1, 3, 2, 3))])
def test_new_modes_gradcheck(kernel_set, mode, shape):
    X = tu.Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    for how in ({"scale_factor": 1.5}, {"scale_factor": 0.7}):
        assert tu.gradcheck(lambda t, how=how: interpolate(t, mode=mode, **how), (X,))


def test_interpolate_bad_inputs():
    x = np.zeros((1, 2, 4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"3-D, 4-D or 5-D input.*\(4, 5\)"):
        interpolate(x[0, 0], scale_factor=2)
    with pytest.raises(ValueError, match=r"mode='bilinear' needs a 4-D input.*\(2, 4, 5\)"):
        interpolate(x[0], scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        interpolate(x, size=(8, 10), scale_factor=2)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        interpolate(x)
    with pytest.raises(ValueError, match="align_corners can only be set with the blending"):
        interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="unknown mode 'cubic'"):
        interpolate(x, scale_factor=2, mode="cubic")
    with pytest.raises(ValueError, match=r"mode='bicubic' needs a 4-D input"):
        interpolate(x[0], scale_factor=2, mode="bicubic")
    with pytest.raises(NotImplementedError, match="antialias=True is not supported"):
        interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match="antialias is only defined for modes 'bilinear'"):
        interpolate(x, scale_factor=0.5, antialias=True)
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful"):
        interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match=r"input \(4, 5\) gives the output \(0, 1\)"):
        interpolate(x, scale_factor=0.2)
    with pytest.raises(ValueError, match=r"scale_factor must be positive"):
        interpolate(x, scale_factor=-2)
    with pytest.raises(TypeError, match=r"size must be a number or a sequence of 2.*\(1, 2, 3\)"):
        interpolate(x, size=(1, 2, 3))
