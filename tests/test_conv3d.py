"""conv3d and conv_transpose3d: against PyTorch (forward and every gradient), against each other
(the adjoint identity), reference kernels against numba kernels (every band and block path),
finite differences, groups, unbatched input, the size helpers and bad input."""

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tests.test_conv import random_inputs  # the cases here have test_conv's keys
from tinyunet.kernels import numba_cpu, reference
from tinyunet.ops.conv3d import (
    conv3d,
    conv3d_output_size,
    conv_transpose3d,
    conv_transpose3d_output_size,
)

# the modules (their names are also the names of the functions they define)
conv3d_module = importlib.import_module("tinyunet.ops.conv3d")
fast_module = importlib.import_module("tinyunet.kernels.numba_cpu.conv3d")
planes_module = importlib.import_module("tinyunet.kernels.numba_cpu.planes")
shifts_module = importlib.import_module("tinyunet.kernels.numba_cpu.shifts")

small = st.integers(1, 2)


@st.composite
def cases(draw, transposed=False):
    """Shapes and hyper-parameters of one conv3d (or conv_transpose3d) that PyTorch accepts;
    small, because the reference kernels are eight nested Python loops."""
    N, C_in, C_out = draw(small), draw(small), draw(small)
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(small) for _ in range(3))
    p = tuple(draw(st.integers(0, 1)) for _ in range(3))
    d = tuple(draw(small) for _ in range(3))
    if transposed:
        op = tuple(draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(3))
        low = [1 + max(0, -(-(2 * p[i] - d[i] * (k[i] - 1) - op[i]) // s[i])) for i in range(3)]
        w_shape = (C_in, C_out, *k)
    else:
        op = (0, 0, 0)
        low = [max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]) for i in range(3)]  # the kernel fits
        w_shape = (C_out, C_in, *k)
    size = tuple(draw(st.integers(low[i], low[i] + 2)) for i in range(3))
    return dict(x_shape=(N, C_in, *size), w_shape=w_shape, C_out=C_out, stride=s, padding=p,
                output_padding=op, dilation=d, bias=draw(st.booleans()))


def hyper(case, transposed):
    h = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    return h | (dict(output_padding=case["output_padding"]) if transposed else {})


def run_tinyunet(case, x, w, b, transposed, **extra):
    """Forward, then backward with a random upstream gradient: y, grad_y, [dx, dw, (db)]."""
    args = [tu.Tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    y = (conv_transpose3d if transposed else conv3d)(*args, **hyper(case, transposed), **extra)
    grad_y = np.random.default_rng(2).standard_normal(y.shape).astype(y.dtype)
    y.backward(grad_y)
    return y.data, grad_y, [t.grad for t in args]


def run_torch(torch, case, x, w, b, grad_y, transposed, **extra):
    """The oracle, in float64 whatever the inputs' dtype: y, [dx, dw, (db)]."""
    args = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
            for a in (x, w, b) if a is not None]
    F = torch.nn.functional
    y = (F.conv_transpose3d if transposed else F.conv3d)(*args, **hyper(case, transposed),
                                                         **extra)
    y.backward(torch.tensor(grad_y, dtype=torch.float64))
    return y.detach().numpy(), [t.grad.numpy() for t in args]


def close(actual, expected, dtype):
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    atol = rtol * (1 + np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# ----- against PyTorch ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True], ids=["conv3d", "conv_transpose3d"])
@settings(max_examples=6)
@given(data=st.data())
def test_matches_torch_forward_and_every_gradient(torch, kernel_set, transposed, dtype, data):
    case = data.draw(cases(transposed))
    x, w, b = random_inputs(case, dtype, seed=1)
    y, grad_y, grads = run_tinyunet(case, x, w, b, transposed)
    y_t, grads_t = run_torch(torch, case, x, w, b, grad_y, transposed)
    assert y.dtype == dtype
    close(y, y_t, dtype)
    for g, g_t in zip(grads, grads_t):  # x, weight and bias
        assert g.shape == g_t.shape and g.dtype == dtype
        close(g, g_t, dtype)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv3d", "conv_transpose3d"])
@pytest.mark.parametrize("groups, unbatched", [(2, False), (3, True), (1, True)])
def test_groups_and_unbatched_input_match_torch(torch, transposed, groups, unbatched):
    g = np.random.default_rng(3)
    C_in, C_out = 2 * groups, 3 * groups
    w_shape = (C_in, C_out // groups, 2, 1, 3) if transposed else (C_out, C_in // groups, 2, 1, 3)
    x_shape = (C_in, 4, 3, 5) if unbatched else (2, C_in, 4, 3, 5)
    x, w, b = g.standard_normal(x_shape), g.standard_normal(w_shape), g.standard_normal(C_out)
    case = dict(stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2), output_padding=(0, 1, 0))
    y, grad_y, grads = run_tinyunet(case, x, w, b, transposed, groups=groups)
    y_t, grads_t = run_torch(torch, case, x, w, b, grad_y, transposed, groups=groups)
    assert y.shape == y_t.shape and y.ndim == len(x_shape)
    close(y, y_t, np.float64)
    for g_, g_t in zip(grads, grads_t):
        close(g_, g_t, np.float64)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("kernel_size, dilation", [(3, 1), (2, 1), ((1, 2, 3), (2, 1, 1))])
def test_padding_same_matches_torch(torch, kernel_set, kernel_size, dilation):
    """Even effective kernels put the extra zero after the last voxel, exactly as PyTorch."""
    g = np.random.default_rng(4)
    k = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * 3
    x, w = g.standard_normal((1, 2, 4, 3, 5)), g.standard_normal((2, 2, *k))
    xt, wt = tu.Tensor(x, requires_grad=True), tu.Tensor(w, requires_grad=True)
    y = conv3d(xt, wt, padding="same", dilation=dilation)
    y.backward(np.ones(y.shape))
    x_t, w_t = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y_t = torch.nn.functional.conv3d(x_t, w_t, padding="same", dilation=dilation)
    y_t.sum().backward()
    assert y.shape == (1, 2, 4, 3, 5)
    for ours, theirs in ((y.data, y_t), (xt.grad, x_t.grad), (wt.grad, w_t.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(conv3d(x, w, padding="valid").data, conv3d(x, w).data)


def test_the_unets_up_convolution_matches_torch(torch):
    """Kernel 2, stride 2: every voxel becomes a 2x2x2 block (col2vol by channel blocks)."""
    x = np.arange(8.0).reshape(1, 1, 2, 2, 2)
    y = conv_transpose3d(x, np.ones((1, 1, 2, 2, 2)), stride=2).data[0, 0]
    np.testing.assert_array_equal(y, np.kron(x[0, 0], np.ones((2, 2, 2))))
    g = np.random.default_rng(5)
    x, w = g.standard_normal((1, 6, 3, 4, 2)), g.standard_normal((6, 5, 2, 2, 2))
    expected = torch.nn.functional.conv_transpose3d(torch.tensor(x), torch.tensor(w), stride=2)
    np.testing.assert_allclose(conv_transpose3d(x, w, stride=2).data, expected.numpy(),
                               rtol=1e-12, atol=1e-12)


# ----- the adjoint pair, reference vs numba, finite differences -----------------------------


@settings(max_examples=8)
@given(case=cases())
def test_adjoint_identity(case):
    """<conv3d(x, w), y> == <x, conv_transpose3d(y, w)>: each is the other's transpose, which
    is why each serves as the other's backward."""
    g = np.random.default_rng(6)
    x, w = g.standard_normal(case["x_shape"]), g.standard_normal(case["w_shape"])
    h = hyper(case, transposed=False)
    Ax = conv3d(x, w, **h).data
    y = g.standard_normal(Ax.shape)
    natural = conv_transpose3d_output_size(Ax.shape[2:], case["w_shape"][2:], **h)
    output_padding = tuple(n - m for n, m in zip(case["x_shape"][2:], natural))
    ATy = conv_transpose3d(y, w, output_padding=output_padding, **h).data
    assert ATy.shape == x.shape
    assert np.vdot(Ax, y) == pytest.approx(np.vdot(x, ATy), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("cells", [None, 64], ids=["one band", "many bands"])
@settings(max_examples=8)
@given(case=cases(), t_case=cases(transposed=True), shrink=st.integers(0, 1))
def test_reference_and_numba_kernels_agree(case, t_case, shrink, cells, monkeypatch):
    """Every kernel on the same arrays (stride-1 cases take plane columns or shifted views,
    the others vol2col); with a tiny budget the numba kernels cut each volume into one-row
    bands, and their sums must not change."""
    if cells is not None:
        monkeypatch.setattr(fast_module, "_CELLS", cells)
        monkeypatch.setattr(planes_module, "_RING", cells)
        monkeypatch.setattr(shifts_module, "_COLUMNS", 1)
    tol = dict(rtol=1e-12, atol=1e-12)
    x, w, b = random_inputs(case, np.float64, seed=7)
    h = (case["stride"], case["padding"], case["dilation"])
    y = reference.conv3d(x, w, b, *h)
    np.testing.assert_allclose(numba_cpu.conv3d(x, w, b, *h), y, **tol)
    # the weight gradient reads only grad_y's own extent, which may be smaller
    grad_y = np.random.default_rng(8).standard_normal(y.shape)
    grad_y = np.ascontiguousarray(grad_y[:, :, :, : max(1, y.shape[3] - shrink)])
    k = case["w_shape"][2:]
    np.testing.assert_allclose(numba_cpu.conv3d_grad_weight(x, grad_y, k, *h),
                               reference.conv3d_grad_weight(x, grad_y, k, *h), **tol)
    x, w, b = random_inputs(t_case, np.float64, seed=9)
    h = (t_case["stride"], t_case["padding"], t_case["output_padding"], t_case["dilation"])
    np.testing.assert_allclose(numba_cpu.conv_transpose3d(x, w, b, *h),
                               reference.conv_transpose3d(x, w, b, *h), **tol)


@pytest.mark.parametrize("ring", [None, 40], ids=["one band", "row bands"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_kernels_on_a_unet3d_level(dtype, ring, monkeypatch):
    """The 3-D U-Net's own shapes, which the random cases are too small for: 3x3x3 'same' and
    'valid' convs on a 4x5x7 volume, widening (plane columns, a ring of three planes swept
    through the depth) and narrowing (shifted views), in one band or in bands of rows, with
    their weight gradients (shifted views); the 2x2x2 up-convolution; a stride-1 transposed
    conv with more padding than kernel (negative front padding: vol2col); and a 1x1x1 conv
    (the head: one product per sample)."""
    if ring is not None:
        monkeypatch.setattr(planes_module, "_RING", ring)
        monkeypatch.setattr(shifts_module, "_COLUMNS", 8)
    assert planes_module.fits((1, 1, 1), (1, 1, 1), (1, 1, 1))
    assert not planes_module.fits((1, 1, 1), (1, 1, 1), (-1, 0, 0))
    g = np.random.default_rng(10)
    x = g.standard_normal((2, 3, 4, 5, 7)).astype(dtype)
    w, b = g.standard_normal((4, 3, 3, 3, 3)).astype(dtype), g.standard_normal(4).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for pad, narrow in (((1, 1, 1), False), ((0, 0, 0), False), ((1, 1, 1), True)):
        w_, b_ = (w[:2], b[:2]) if narrow else (w, b)  # 3 -> 2 channels: shifted views
        h = ((1, 1, 1), pad, (1, 1, 1))
        y = reference.conv3d(x, w_, b_, *h)
        np.testing.assert_allclose(numba_cpu.conv3d(x, w_, b_, *h), y, **tol)
        grad_y = g.standard_normal(y.shape).astype(dtype)
        np.testing.assert_allclose(numba_cpu.conv3d_grad_weight(x, grad_y, (3, 3, 3), *h),
                                   reference.conv3d_grad_weight(x, grad_y, (3, 3, 3), *h), **tol)
    w1 = g.standard_normal((5, 3, 1, 1, 1)).astype(dtype)  # the head: a 1x1x1 kernel
    h = ((1, 1, 1), (0, 0, 0), (1, 1, 1))
    y = reference.conv3d(x, w1, None, *h)
    np.testing.assert_allclose(numba_cpu.conv3d(x, w1, None, *h), y, **tol)
    np.testing.assert_allclose(numba_cpu.conv3d_grad_weight(x, y, (1, 1, 1), *h),
                               reference.conv3d_grad_weight(x, y, (1, 1, 1), *h), **tol)
    for w_shape, h in (((3, 4, 2, 2, 2), ((2, 2, 2), (0, 0, 0), (0, 0, 0), (1, 1, 1))),
                       ((3, 2, 2, 1, 2), ((1, 1, 1), (2, 0, 1), (0, 0, 0), (1, 1, 1)))):
        wt = g.standard_normal(w_shape).astype(dtype)
        np.testing.assert_allclose(numba_cpu.conv_transpose3d(x, wt, None, *h),
                                   reference.conv_transpose3d(x, wt, None, *h), **tol)


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=(2, 1, 1), padding=1),
                                    dict(padding="same", dilation=(1, 2, 1), groups=2)])
def test_conv3d_gradcheck(kernel_set, kwargs):
    g = np.random.default_rng(11)
    x = tu.Tensor(g.standard_normal((1, 2, 3, 4, 3)), requires_grad=True)
    w = tu.Tensor(g.standard_normal((2, 2 // kwargs.get("groups", 1), 2, 2, 3)),
                  requires_grad=True)
    b = tu.Tensor(g.standard_normal(2), requires_grad=True)
    assert tu.gradcheck(lambda x, w, b: conv3d(x, w, b, **kwargs), (x, w, b))


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1, output_padding=1),
                                    dict(stride=(1, 2, 1), dilation=(2, 1, 1),
                                         output_padding=(1, 0, 0))])  # output_padding >= stride
def test_conv_transpose3d_gradcheck(kernel_set, kwargs):
    g = np.random.default_rng(12)
    x = tu.Tensor(g.standard_normal((1, 2, 2, 3, 2)), requires_grad=True)
    w = tu.Tensor(g.standard_normal((2, 2, 2, 2, 1)), requires_grad=True)
    b = tu.Tensor(g.standard_normal(2), requires_grad=True)
    assert tu.gradcheck(lambda x, w, b: conv_transpose3d(x, w, b, **kwargs), (x, w, b))


def test_only_requested_gradients_are_computed(monkeypatch):
    """With a frozen weight, the weight-gradient kernel must not even run."""
    def forbidden(*args):
        raise AssertionError("conv3d_grad_weight ran for a weight that needs no gradient")

    monkeypatch.setattr(numba_cpu, "conv3d_grad_weight", forbidden)
    x = tu.Tensor(np.ones((1, 1, 3, 3, 3), np.float32), requires_grad=True)
    w = tu.Tensor(np.ones((1, 1, 3, 3, 3), np.float32))
    with tu.use_kernels("numba"):
        conv3d(x, w, padding=1).sum().backward()
    assert w.grad is None
    assert x.grad[0, 0, 1, 1, 1] == 27 and x.grad[0, 0, 0, 0, 0] == 8  # windows it sits in


# ----- the size helpers ---------------------------------------------------------------------


def test_size_helpers_match_torch_shapes(torch):
    x, w = torch.zeros(1, 1, 9, 6, 7), torch.zeros(1, 1, 3, 2, 1)
    y = torch.nn.functional.conv3d(x, w, stride=(2, 1, 3), padding=(1, 0, 1), dilation=(1, 2, 1))
    assert conv3d_output_size((9, 6, 7), (3, 2, 1), (2, 1, 3), (1, 0, 1), (1, 2, 1)) == y.shape[2:]
    y = torch.nn.functional.conv_transpose3d(x, w, stride=(2, 3, 1), padding=(1, 0, 0),
                                             output_padding=(1, 2, 0), dilation=(1, 2, 1))
    assert conv_transpose3d_output_size((9, 6, 7), (3, 2, 1), (2, 3, 1), (1, 0, 0), (1, 2, 0),
                                        (1, 2, 1)) == y.shape[2:]
    assert conv3d_output_size(7, 3, 2, 1) == conv3d_output_size(8, 3, 2, 1) == 4
    assert [conv_transpose3d_output_size(4, 3, 2, 1, op) for op in (0, 1)] == [7, 8]


# ----- bad input ----------------------------------------------------------------------------

f32 = np.float32
X = np.zeros((1, 2, 4, 4, 4), f32)
W = np.zeros((3, 2, 3, 3, 3), f32)  # conv3d: 2 -> 3 channels
WT = np.zeros((2, 3, 2, 2, 2), f32)  # conv_transpose3d: 2 -> 3 channels

BAD_CONV3D = [
    (dict(input=np.zeros((4, 4, 4), f32)), ValueError,
     r"input must be 5-D \(N, C, D, H, W\) or unbatched 4-D \(C, D, H, W\), got shape \(4, 4, 4\)"),
    (dict(weight=np.zeros((3, 2, 3, 3), f32)), ValueError,
     r"weight must be 5-D \(C_out, C_in/groups, kD, kH, kW\), got shape \(3, 2, 3, 3\)"),
    (dict(weight=np.zeros((3, 1, 3, 3, 3), f32)), ValueError,
     r"input has 2 channels but weight \(3, 1, 3, 3, 3\) with groups=1 expects 1"),
    (dict(bias=np.zeros(2, f32)), ValueError, r"bias must have shape \(3,\) .* got \(2,\)"),
    (dict(weight=np.zeros((3, 2, 5, 3, 3), f32)), ValueError,
     r"kernel \(5, 3, 3\) .* spans \(5, 3, 3\), larger than the padded input \(4, 4, 4\)"),
    (dict(dilation=(1, 2, 1)), ValueError, r"spans \(3, 5, 3\), larger than the padded input"),
    (dict(groups=2), ValueError, r"groups=2 must divide both the input channels \(2\) and the "
     r"out_channels \(3\)"),
    (dict(groups=0), ValueError, r"groups must be a positive int, got 0"),
    (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(padding=-1), ValueError, r"padding must be >= 0, got -1"),
    (dict(padding="full"), ValueError, r"padding must be 'same', 'valid', .* got 'full'"),
    (dict(padding="same", stride=2), ValueError, r"padding='same' is not supported for strided"),
    (dict(padding=(1, 1)), TypeError, r"padding must be an int or a triple of ints, got \(1, 1\)"),
    (dict(input=np.zeros((1, 2, 4, 4, 4), np.int64)), TypeError, r"input has dtype int64"),
]


@pytest.mark.parametrize("bad, error, message", BAD_CONV3D)
def test_conv3d_bad_input(bad, error, message):
    with pytest.raises(error, match=message):
        conv3d(**(dict(input=X, weight=W, bias=None) | bad))


BAD_CONV_TRANSPOSE3D = [
    (dict(input=np.zeros((1, 1, 2, 4, 4, 4), f32)), ValueError,
     r"input must be 5-D .* got shape \(1, 1, 2, 4, 4, 4\)"),
    (dict(weight=W), ValueError,
     r"input has 2 channels but weight \(3, 2, 3, 3, 3\) expects 3 \(a transposed conv's weight"),
    (dict(bias=np.zeros(2, f32)), ValueError, r"bias must have shape \(3,\) .* got \(2,\)"),
    (dict(output_padding=1), ValueError,
     r"output_padding \(1, 1, 1\) must be smaller than either stride \(1, 1, 1\) or dilation"),
    (dict(stride=2, output_padding=(1, 2, 0)), ValueError, r"output_padding \(1, 2, 0\) must be"),
    (dict(padding="same"), ValueError, r"padding must be an int or a triple of ints, got 'same'"),
    (dict(groups=3), ValueError, r"groups=3 must divide both the input channels \(2\)"),
    (dict(input=np.zeros((1, 2, 1, 1, 1), f32), padding=1), ValueError,
     r"output size would be \(0, 0, 0\)"),
]


@pytest.mark.parametrize("bad, error, message", BAD_CONV_TRANSPOSE3D)
def test_conv_transpose3d_bad_input(bad, error, message):
    with pytest.raises(error, match=message):
        conv_transpose3d(**(dict(input=X, weight=WT, bias=None) | bad))
