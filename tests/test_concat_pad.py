"""cat, stack, center_crop and pad: against PyTorch (or the expected slices), gradcheck, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.ops.concat import cat, center_crop, stack
from tinyunet.ops.pad import pad


def _seeded(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _backward_both(torch, ys, ts, shape):
    """Send the same random upstream gradient through tinyunet's ``ys`` and torch's ``ts``."""
    grad = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ys.backward(grad)
    ts.backward(torch.tensor(grad))


@given(data=st.data())
def test_cat_matches_torch(torch, data):
    ndim = data.draw(st.integers(1, 4))
    dim = data.draw(st.integers(-ndim, ndim - 1))
    shape = [data.draw(st.integers(1, 3)) for _ in range(ndim)]
    rng = _seeded(data.draw)
    arrays = []
    for _ in range(data.draw(st.integers(1, 3))):
        shape[dim] = data.draw(st.integers(1, 3))
        arrays.append(rng.standard_normal(shape).astype(np.float32))
    xs = [tu.Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = cat(xs, dim=dim), torch.cat(ts, dim=dim)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    _backward_both(torch, y, ty, y.shape)
    for x, t in zip(xs, ts):
        np.testing.assert_array_equal(x.grad, t.grad.numpy())


@given(data=st.data())
def test_stack_matches_torch(torch, data):
    ndim = data.draw(st.integers(0, 3))
    dim = data.draw(st.integers(-ndim - 1, ndim))
    shape = [data.draw(st.integers(1, 3)) for _ in range(ndim)]
    rng = _seeded(data.draw)
    arrays = [rng.standard_normal(shape).astype(np.float32)
              for _ in range(data.draw(st.integers(1, 3)))]
    xs = [tu.Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = stack(xs, dim=dim), torch.stack(ts, dim=dim)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    _backward_both(torch, y, ty, y.shape)
    for x, t in zip(xs, ts):
        np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_cat_mixes_tensors_and_arrays_and_skips_grad_where_not_needed():
    a = tu.Tensor(np.ones((1, 2, 3, 3), dtype=np.float32), requires_grad=True)
    b = np.zeros((1, 1, 3, 3), dtype=np.float32)
    y = cat([a, b], dim=1)
    assert y.shape == (1, 3, 3, 3)
    (y * 2).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((1, 2, 3, 3), 2.0))


# (H, h, expected top): torchvision's int(round((H - h) / 2)), halves rounded to even
CROP_OFFSETS = [(4, 2, 1), (5, 2, 2), (7, 2, 2), (4, 1, 2), (6, 1, 2), (9, 4, 2), (3, 3, 0)]


@pytest.mark.parametrize("H, h, top", CROP_OFFSETS)
@pytest.mark.parametrize("W, w, left", CROP_OFFSETS[:3])
def test_center_crop_offsets(H, h, top, W, w, left):
    x = np.random.default_rng(0).standard_normal((2, 3, H, W)).astype(np.float32)
    X = tu.Tensor(x, requires_grad=True)
    y = center_crop(X, (h, w))
    np.testing.assert_array_equal(y.data, x[:, :, top:top + h, left:left + w])
    y.sum().backward()
    expected = np.zeros_like(x)
    expected[:, :, top:top + h, left:left + w] = 1
    np.testing.assert_array_equal(X.grad, expected)


def test_center_crop_int_size_and_unet_skip():
    skip = np.random.default_rng(0).standard_normal((1, 4, 64, 64)).astype(np.float32)
    np.testing.assert_array_equal(center_crop(skip, 56).data, skip[..., 4:60, 4:60])
    np.testing.assert_array_equal(center_crop(skip[0, 0], (3, 5)).data, skip[0, 0, 30:33, 30:35])
    up = np.zeros((1, 4, 56, 56), dtype=np.float32)
    assert cat([up, center_crop(skip, up.shape[2:])], dim=1).shape == (1, 8, 56, 56)


@st.composite
def pad_cases(draw):
    """(x, pad, mode) in the combinations PyTorch supports, negative (cropping) widths too."""
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    ndim = draw(st.integers(3, 4)) if mode != "constant" else draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    widths = []
    if mode != "constant":  # PyTorch pads the last dim of 3-D, the last two of 4-D inputs
        for n in reversed(shape[2:]):
            before = draw(st.integers(-(n - 1), n - 1))   # |width| < n: reflect's limit
            after = draw(st.integers(-(n - 1 + min(before, 0)), n - 1))  # keeps one element
            if mode == "circular":  # at most one wrap around what the crops leave
                kept = n + min(before, 0) + min(after, 0)
                before, after = min(before, kept), min(after, kept)
            widths += [before, after]
    else:
        for n in reversed(shape[ndim - draw(st.integers(1, ndim)):]):
            before = draw(st.integers(-n + 1, 3))  # negative: crop, never more than n in all
            widths += [before, draw(st.integers(max(-(n + before) + 1, -(n + min(before, 0))), 3))]
    x = _seeded(draw).standard_normal(shape).astype(np.float32)
    return x, tuple(widths), mode


@given(case=pad_cases(), value=st.sampled_from([0.0, -1.5]))
def test_pad_matches_torch(torch, case, value):
    x, widths, mode = case
    kw = {"value": value} if mode == "constant" else {}
    X, t = tu.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = pad(X, widths, mode=mode, **kw)
    try:
        ty = torch.nn.functional.pad(t, widths, mode=mode, **kw)
    except RuntimeError:  # a width PyTorch refuses (e.g. reflect past a cropped edge)
        return
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    _backward_both(torch, y, ty, y.shape)
    np.testing.assert_allclose(X.grad, t.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_pad_reflect_example():
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    np.testing.assert_array_equal(pad(x, (2, 1), mode="reflect").data,
                                  [[[3, 2, 1, 2, 3, 4, 3]]])
    X = tu.Tensor(x, requires_grad=True)
    pad(X, (2, 1), mode="reflect").sum().backward()
    np.testing.assert_array_equal(X.grad, [[[1, 2, 3, 1]]])  # 2 and 3 were copied once more


@pytest.mark.parametrize("mode, expected, grad", [
    ("reflect", [3, 2, 1, 2, 3, 4, 3], [1, 2, 3, 1]),
    ("replicate", [1, 1, 1, 2, 3, 4, 4], [3, 1, 1, 2]),
    ("circular", [3, 4, 1, 2, 3, 4, 1], [2, 1, 2, 2]),
])
def test_pad_modes_by_hand(mode, expected, grad):
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    X = tu.Tensor(x, requires_grad=True)
    y = pad(X, (2, 1), mode=mode)
    np.testing.assert_array_equal(y.data, [[expected]])
    y.sum().backward()
    np.testing.assert_array_equal(X.grad, [[grad]])  # how often each pixel was copied


def test_negative_widths_crop_in_every_mode(torch):
    x = np.arange(4.0).reshape(1, 1, 4)
    for mode in ("reflect", "replicate", "circular", "constant"):
        ours = pad(x, (-1, 2), mode=mode).data
        theirs = torch.nn.functional.pad(torch.tensor(x), (-1, 2), mode=mode).numpy()
        np.testing.assert_array_equal(ours, theirs)
    # circular crops first and wraps around what is left: 1 2 3 | 1 2, not 1 2 3 | 0 1
    np.testing.assert_array_equal(pad(x, (-1, 2), mode="circular").data.ravel(), [1, 2, 3, 1, 2])


def _gradcheck(fn, *shapes):
    rng = np.random.default_rng(0)
    inputs = tuple(tu.Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)
    assert tu.gradcheck(fn, inputs)


def test_gradchecks():
    _gradcheck(lambda a, b, c: cat([a, b, c], dim=1), (1, 2, 2, 3), (1, 1, 2, 3), (1, 3, 2, 3))
    _gradcheck(lambda a, b: cat([a, b], dim=-1), (2, 3), (2, 2))
    _gradcheck(lambda a, b: stack([a, b], dim=1), (2, 3), (2, 3))
    _gradcheck(lambda a: center_crop(a, (2, 3)), (1, 2, 5, 6))
    _gradcheck(lambda a: pad(a, (1, 2, -1, 1), value=0.5), (1, 2, 3, 4))
    _gradcheck(lambda a: pad(a, (2, 1, 1, 2), mode="reflect"), (1, 2, 3, 4))
    _gradcheck(lambda a: pad(a, (3, 3), mode="reflect"), (2, 4))
    _gradcheck(lambda a: pad(a, (2, -1, 3, 1), mode="replicate"), (1, 2, 3, 4))
    _gradcheck(lambda a: pad(a, (-1, 2, 3, 1), mode="circular"), (1, 2, 3, 4))


def test_cat_errors_name_the_shapes():
    up, skip = np.zeros((1, 64, 56, 56)), np.zeros((1, 64, 64, 64))
    with pytest.raises(ValueError, match=r"\(1, 64, 56, 56\), \(1, 64, 64, 64\).*"
                                         r"F\.center_crop\(x, \(56, 56\)\).*F\.pad"):
        cat([up, skip], dim=1)
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\), \(1, 2, 4, 4\)$"):
        cat([np.zeros((1, 3, 4, 4)), np.zeros((1, 2, 4, 4))], dim=2)  # channels, not spatial
    with pytest.raises(ValueError, match=r"same number of dimensions.*\(1, 3, 4, 4\), \(3, 4, 4\)"):
        cat([np.zeros((1, 3, 4, 4)), np.zeros((3, 4, 4))], dim=1)
    with pytest.raises(IndexError, match=r"dim 4 is out of range for 4-D tensors"):
        cat([up, up], dim=4)
    with pytest.raises(TypeError, match="non-empty list"):
        cat([])
    with pytest.raises(TypeError, match="non-empty list"):
        cat(tu.Tensor(up))
    with pytest.raises(ValueError, match=r"stack: .*same shape.*\(2, 3\), \(3, 2\)"):
        stack([np.zeros((2, 3)), np.zeros((3, 2))])


def test_center_crop_and_pad_errors():
    x = np.zeros((1, 3, 64, 60), dtype=np.float32)
    with pytest.raises(ValueError, match=r"crop size \(70, 50\).*\(64, 60\).*\(1, 3, 64, 60\)"):
        center_crop(x, (70, 50))
    with pytest.raises(ValueError, match=r"at least 2 dims.*\(5,\)"):
        center_crop(np.zeros(5), 2)
    with pytest.raises(ValueError, match=r"reflect padding \(0, 60\) of dim 3.*size 60"):
        pad(x, (0, 60), mode="reflect")
    with pytest.raises(ValueError, match=r"even-length.*\(1, 2, 3\)"):
        pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"pads 5 dims.*\(1, 3, 64, 60\)"):
        pad(x, (1,) * 10)
    with pytest.raises(ValueError, match=r"padding \(-40, -30\) crops more than the 60 .* dim 3"):
        pad(x, (-40, -30))
    with pytest.raises(ValueError, match="unknown mode 'mirror'"):
        pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match=r"circular padding \(61, 0\) of dim 3 would wrap"):
        pad(x, (61, 0), mode="circular")
    with pytest.raises(ValueError, match=r"circular padding \(-2, 59\) of dim 3 would wrap"):
        pad(x, (-2, 59), mode="circular")
    with pytest.raises(ValueError, match=r"value=1.5 only makes sense with mode='constant'"):
        pad(x, (1, 1), mode="replicate", value=1.5)


def test_cat_frees_an_input_that_only_the_graph_keeps():
    """The U-Net's upsampled map is made for the cat alone: after the cat its tensor reads its
    slice of the output (the same values), and its own array is freed. An array that anything
    else holds (a saved activation, a user's name) is left alone, as are leaves."""
    import weakref

    rng = np.random.default_rng(0)
    x = tu.Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    s = tu.Tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
    up, held = x * 2.0, x * 3.0
    values, kept = up.data.copy(), held.data
    original = weakref.ref(up.data)
    y = cat([up, s, held], dim=1)
    assert original() is None  # freed: nothing but the tensor held it
    assert np.shares_memory(up.data, y.data) and np.array_equal(up.data, values)
    assert held.data is kept and s.data.base is None  # held elsewhere; a leaf
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * values + 3 * 2 * kept)
    np.testing.assert_allclose(s.grad, 2 * s.data)
    with tu.no_grad():
        plain = x * 2.0
        cat([plain, s], dim=1)
        assert plain.data.base is None  # no graph: nothing to free early
