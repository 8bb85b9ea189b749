"""conv2d and conv_transpose2d: against PyTorch, against each other (the adjoint identity),
reference kernels against numba kernels, finite differences, shape helpers and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.kernels import numba_cpu, reference
from tinyunet.ops.conv import (
    conv2d,
    conv2d_output_size,
    conv_transpose2d,
    conv_transpose2d_output_size,
)

small = st.integers(1, 3)


def close(actual, expected, rtol=1e-4):
    """float32 against the oracle: relative 1e-4, with an absolute floor for values near 0."""
    expected = np.asarray(expected)
    atol = rtol * (1 + np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@st.composite
def conv_cases(draw, transposed=False):
    """Shapes and hyper-parameters for one conv (or transposed conv) that PyTorch accepts."""
    N, C_in, C_out = draw(st.integers(1, 2)), draw(small), draw(small)
    k = (draw(small), draw(small))
    s = (draw(small), draw(small))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if transposed:
        op = tuple(draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(2))
        # smallest input whose output is not cropped away entirely
        low = [1 + max(0, -(-(2 * p[i] - d[i] * (k[i] - 1) - op[i]) // s[i])) for i in range(2)]
        size = tuple(draw(st.integers(low[i], low[i] + 3)) for i in range(2))
        w_shape = (C_in, C_out, *k)
    else:
        op = (0, 0)
        low = [max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]) for i in range(2)]  # kernel must fit
        size = tuple(draw(st.integers(low[i], low[i] + 5)) for i in range(2))
        w_shape = (C_out, C_in, *k)
    return dict(x_shape=(N, C_in, *size), w_shape=w_shape, C_out=C_out, stride=s, padding=p,
                output_padding=op, dilation=d, bias=draw(st.booleans()))


def random_inputs(case, dtype, seed):
    g = np.random.default_rng(seed)
    x = g.standard_normal(case["x_shape"]).astype(dtype)
    w = g.standard_normal(case["w_shape"]).astype(dtype)
    b = g.standard_normal(case["C_out"]).astype(dtype) if case["bias"] else None
    return x, w, b


def run_tinyunet(case, x, w, b, transposed, grad_seed):
    """Forward, then backward with a random upstream gradient: (y, grad_y, [dx, dw, db])."""
    inputs = [tu.Tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    hyper = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    if transposed:
        y = conv_transpose2d(*inputs, output_padding=case["output_padding"], **hyper)
    else:
        y = conv2d(*inputs, **hyper)
    grad_y = np.random.default_rng(grad_seed).standard_normal(y.shape).astype(y.dtype)
    y.backward(grad_y)
    return y.data, grad_y, [t.grad for t in inputs]


def run_torch(torch, case, x, w, b, grad_y, transposed):
    inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
              for a in (x, w, b) if a is not None]
    xt, wt, bt = inputs[0], inputs[1], inputs[2] if b is not None else None
    hyper = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    F = torch.nn.functional
    if transposed:
        y = F.conv_transpose2d(xt, wt, bt, output_padding=case["output_padding"], **hyper)
    else:
        y = F.conv2d(xt, wt, bt, **hyper)
    y.backward(torch.tensor(grad_y, dtype=torch.float64))
    return y.detach().numpy(), [t.grad.numpy() for t in inputs]


# ----- against PyTorch ----------------------------------------------------------------------


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@settings(max_examples=20)
@given(case=st.data())
def test_matches_torch_forward_and_backward(torch, kernel_set, transposed, case):
    case = case.draw(conv_cases(transposed))
    x, w, b = random_inputs(case, np.float32, seed=1)
    y, grad_y, grads = run_tinyunet(case, x, w, b, transposed, grad_seed=2)
    y_torch, grads_torch = run_torch(torch, case, x, w, b, grad_y, transposed)
    assert y.dtype == np.float32
    close(y, y_torch)
    for name, g, g_torch in zip(("x", "weight", "bias"), grads, grads_torch):
        assert g.shape == g_torch.shape, name
        close(g, g_torch)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_pointwise_1x1_matches_torch(torch, kernel_set, transposed, rng):
    """The 1x1, stride 1, unpadded case skips im2col in the numba kernels."""
    case = dict(x_shape=(2, 3, 5, 4), w_shape=(3, 2, 1, 1), C_out=2, stride=(1, 1),
                padding=(0, 0), output_padding=(0, 0), dilation=(2, 1), bias=True)
    if not transposed:
        case["w_shape"] = (2, 3, 1, 1)
    x, w, b = random_inputs(case, np.float32, seed=3)
    y, grad_y, grads = run_tinyunet(case, x, w, b, transposed, grad_seed=4)
    y_torch, grads_torch = run_torch(torch, case, x, w, b, grad_y, transposed)
    close(y, y_torch)
    for g, g_torch in zip(grads, grads_torch):
        close(g, g_torch)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("C, size", [(32, 16), (64, 16)], ids=["32ch", "64ch"])
def test_the_unets_fast_algorithms_match_torch(torch, transposed, C, size):
    """The U-Net's own shapes, which the random cases are too small for: with the numba
    kernels these run Winograd (forward and input gradient from 32 channels, the weight
    gradient too from 64 on 16 px rows) against PyTorch directly, in float32."""
    kernels = numba_cpu.conv
    for weight_grad in (False, True):
        expected = "winograd" if C >= (64 if weight_grad else 32) else "direct"
        assert kernels._algorithm(3, 3, (1, 1), (1, 1), size, C, C, weight_grad) == expected
    case = dict(x_shape=(3, C, size, size), w_shape=(C, C, 3, 3), C_out=C, stride=(1, 1),
                padding=(1, 1), output_padding=(0, 0), dilation=(1, 1), bias=True)
    x, w, b = random_inputs(case, np.float32, seed=13)
    with tu.use_kernels("numba"):
        y, grad_y, grads = run_tinyunet(case, x, w, b, transposed, grad_seed=14)
    y_torch, grads_torch = run_torch(torch, case, x, w, b, grad_y, transposed)
    close(y, y_torch)
    for g, g_torch in zip(grads, grads_torch):
        close(g, g_torch)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, (2, 3)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_padding_same_matches_torch(torch, kernel_set, kernel_size, dilation, rng):
    """Even effective kernels pad one more zero at the bottom/right, exactly as PyTorch."""
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    x = rng.standard_normal((1, 2, 7, 6))
    w = rng.standard_normal((3, 2, *k))
    xt, wt = tu.Tensor(x, requires_grad=True), tu.Tensor(w, requires_grad=True)
    y = conv2d(xt, wt, padding="same", dilation=dilation)
    grad_y = rng.standard_normal(y.shape)
    y.backward(grad_y)

    x_torch = torch.tensor(x, requires_grad=True)
    w_torch = torch.tensor(w, requires_grad=True)
    y_torch = torch.nn.functional.conv2d(x_torch, w_torch, padding="same", dilation=dilation)
    y_torch.backward(torch.tensor(grad_y))
    assert y.shape == x.shape[:1] + (3,) + x.shape[2:]
    np.testing.assert_allclose(y.data, y_torch.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, x_torch.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wt.grad, w_torch.grad.numpy(), rtol=1e-12, atol=1e-12)
    valid = conv2d(x, w, padding="valid", dilation=(dilation, 1))
    np.testing.assert_array_equal(valid.data, conv2d(x, w, dilation=(dilation, 1)).data)


def test_nan_and_inf_propagate_as_in_torch(torch, kernel_set):
    x = np.zeros((1, 1, 5, 5), np.float32)
    x[0, 0, 1, 1], x[0, 0, 3, 4] = np.nan, np.inf
    w = np.ones((1, 1, 2, 2), np.float32)
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_array_equal(conv2d(x, w, padding=1).data, expected)
    expected = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2)
    np.testing.assert_array_equal(conv_transpose2d(x, w, stride=2).data, expected.numpy())


# ----- the adjoint pair, reference vs numba, finite differences -----------------------------


@settings(max_examples=15)
@given(case=conv_cases())
def test_adjoint_identity(kernel_set, case):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>: the transposed conv is conv2d's
    transpose, which is why each serves as the other's backward."""
    g = np.random.default_rng(5)
    x = g.standard_normal(case["x_shape"])
    w = g.standard_normal(case["w_shape"])
    hyper = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    Ax = conv2d(x, w, **hyper).data
    y = g.standard_normal(Ax.shape)
    natural = conv_transpose2d_output_size(Ax.shape[2:], case["w_shape"][2:],
                                           output_padding=0, **hyper)
    output_padding = tuple(n - m for n, m in zip(case["x_shape"][2:], natural))
    ATy = conv_transpose2d(y, w, output_padding=output_padding, **hyper).data
    assert ATy.shape == x.shape
    assert np.vdot(Ax, y) == pytest.approx(np.vdot(x, ATy), rel=1e-12, abs=1e-12)


@settings(max_examples=15)
@given(case=conv_cases(), transposed_case=conv_cases(transposed=True), shrink=st.integers(0, 1))
def test_reference_and_numba_kernels_agree(case, transposed_case, shrink):
    x, w, b = random_inputs(case, np.float64, seed=6)
    hyper = (case["stride"], case["padding"], case["dilation"])
    y = reference.conv2d(x, w, b, *hyper)
    np.testing.assert_allclose(numba_cpu.conv2d(x, w, b, *hyper), y, rtol=1e-12, atol=1e-12)
    # the weight gradient reads only grad_y's own spatial extent, which may be smaller
    grad_y = np.random.default_rng(7).standard_normal(y.shape)
    grad_y = np.ascontiguousarray(grad_y[:, :, : max(1, y.shape[2] - shrink), :])
    k = case["w_shape"][2:]
    np.testing.assert_allclose(numba_cpu.conv2d_grad_weight(x, grad_y, k, *hyper),
                               reference.conv2d_grad_weight(x, grad_y, k, *hyper),
                               rtol=1e-12, atol=1e-12)

    c = transposed_case
    x, w, b = random_inputs(c, np.float64, seed=8)
    hyper = (c["stride"], c["padding"], c["output_padding"], c["dilation"])
    np.testing.assert_allclose(numba_cpu.conv_transpose2d(x, w, b, *hyper),
                               reference.conv_transpose2d(x, w, b, *hyper),
                               rtol=1e-12, atol=1e-12)


# How work is cut up, overridden to reach every path on small inputs:
SIDE_BY_SIDE = ("layout", "ITEMS_PER_WORKER", 1)  # several samples in one product
BANDS = ("winograd", "_TILES", 3)  # a few tiles per product: large images go in bands
BANDS_OF_2 = ("winograd", "_TILES", 9)

FAST_CASES = [  # (algorithm, x shape, w shape, padding, dilation, override or None)
    ("direct", (2, 3, 20, 20), (4, 3, 3, 3), (1, 1), (1, 1), None),
    ("direct", (2, 4, 17, 20), (8, 4, 3, 3), (0, 1), (1, 1), None),  # 'valid' rows: no top pad
    ("direct", (1, 4, 18, 21), (4, 4, 2, 3), (2, 2), (2, 2), None),  # a 2x3 kernel, dilated
    ("direct", (1, 5, 9, 20), (12, 5, 3, 3), (1, 1), (1, 1), None),  # batch 1: split 8 + 4
    ("winograd", (2, 32, 6, 8), (32, 32, 3, 3), (1, 1), (1, 1), None),
    ("winograd", (3, 32, 7, 9), (40, 32, 3, 3), (0, 1), (1, 1), None),  # odd sizes: cut tiles
    ("winograd", (5, 32, 4, 6), (32, 32, 3, 3), (1, 1), (1, 1), SIDE_BY_SIDE),
    ("winograd", (1, 33, 9, 6), (36, 33, 3, 3), (1, 1), (1, 1), BANDS),  # bands of 1 tile row
    ("winograd", (2, 32, 11, 7), (32, 32, 3, 3), (0, 1), (1, 1), BANDS_OF_2),  # one short
]


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN in, NaN out
@pytest.mark.parametrize("non_finite", [False, True])
@pytest.mark.parametrize("algorithm, x_shape, w_shape, padding, dilation, override", FAST_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_algorithms_agree_with_reference(algorithm, x_shape, w_shape, padding, dilation,
                                              override, non_finite, dtype, monkeypatch):
    """Winograd and the direct kernel, which the random cases above are too small to reach:
    forward, input gradient (a stride-1 transposed conv) and weight gradient, with NaN and
    inf in the input spread to exactly the reference's outputs (through the exact fallback).
    Two workers, whatever this machine has, so that the work is cut up as the cases say."""
    monkeypatch.setattr(numba_cpu.layout, "num_threads", lambda: 2)
    # Winograd's weight gradient, which the U-Net uses from 64 channels on 16+ pixel rows,
    # is checked on these small cases too
    monkeypatch.setattr(numba_cpu.conv, "WINOGRAD_GRAD_MIN_CHANNELS", 32)
    monkeypatch.setattr(numba_cpu.conv, "WINOGRAD_GRAD_MIN_WIDTH", 1)
    C_out, C_in, kH, kW = w_shape
    H_out, W_out = (n + 2 * p - d * (k - 1) for n, p, d, k in
                    zip(x_shape[2:], padding, dilation, (kH, kW)))
    for weight_grad in (False, True):
        assert numba_cpu.conv._algorithm(kH, kW, (1, 1), dilation, W_out, C_in, C_out,
                                         weight_grad) == algorithm
    if override is not None:
        module, name, value = override
        monkeypatch.setattr(getattr(numba_cpu, module), name, value)
    g = np.random.default_rng(11)
    x = g.standard_normal(x_shape).astype(dtype)
    w, b = g.standard_normal(w_shape).astype(dtype), g.standard_normal(C_out).astype(dtype)
    if non_finite:
        x[0, 0, 3, 5], x[-1, -1, -1, -1], x[0, -1, 0, 0] = np.nan, np.inf, -np.inf
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    hyper = ((1, 1), padding, dilation)

    y = reference.conv2d(x, w, b, *hyper)
    np.testing.assert_allclose(numba_cpu.conv2d(x, w, b, *hyper), y, **tol)
    grad_y = g.standard_normal(y.shape).astype(dtype)
    for rows in (H_out, H_out - 1):  # the weight gradient over all of grad_y, or fewer rows
        g_y = np.ascontiguousarray(grad_y[:, :, :rows])
        np.testing.assert_allclose(numba_cpu.conv2d_grad_weight(x, g_y, (kH, kW), *hyper),
                                   reference.conv2d_grad_weight(x, g_y, (kH, kW), *hyper),
                                   **tol)
    # the input gradient: a conv of grad_y's C_out channels back to C_in; x's own size is
    # recovered with output_padding
    natural = conv_transpose2d_output_size(y.shape[2:], (kH, kW), stride=1, padding=padding,
                                           output_padding=0, dilation=dilation)
    output_padding = tuple(n - m for n, m in zip(x_shape[2:], natural))
    grad_y[0, 0, 2, 3] = np.nan if non_finite else grad_y[0, 0, 2, 3]
    t_hyper = ((1, 1), padding, output_padding, dilation)
    np.testing.assert_allclose(numba_cpu.conv_transpose2d(grad_y, w, None, *t_hyper),
                               reference.conv_transpose2d(grad_y, w, None, *t_hyper), **tol)


@pytest.mark.parametrize("items_per_worker", [1, 4])
def test_im2col_with_samples_side_by_side_agrees_with_reference(items_per_worker, monkeypatch):
    """im2col puts small images side by side into one product when the batch is big enough
    (layout.groups); both ways must give the reference's numbers."""
    monkeypatch.setattr(numba_cpu.layout, "ITEMS_PER_WORKER", items_per_worker)
    g = np.random.default_rng(12)
    x, w, b = g.standard_normal((5, 3, 6, 7)), g.standard_normal((4, 3, 3, 3)), g.standard_normal(4)
    hyper = ((2, 1), (1, 0), (1, 1))  # a stride: im2col's road
    assert numba_cpu.conv._algorithm(3, 3, hyper[0], hyper[2], 5, 3, 4) == "im2col"
    y = reference.conv2d(x, w, b, *hyper)
    np.testing.assert_allclose(numba_cpu.conv2d(x, w, b, *hyper), y, rtol=1e-12, atol=1e-12)
    grad_y = g.standard_normal(y.shape)
    np.testing.assert_allclose(numba_cpu.conv2d_grad_weight(x, grad_y, (3, 3), *hyper),
                               reference.conv2d_grad_weight(x, grad_y, (3, 3), *hyper),
                               rtol=1e-12, atol=1e-12)


GRADCHECK_CASES = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(padding="same", dilation=(1, 2)),
]


@pytest.mark.parametrize("hyper", GRADCHECK_CASES)
def test_conv2d_gradcheck(kernel_set, hyper):
    g = np.random.default_rng(9)
    x = tu.Tensor(g.standard_normal((2, 2, 4, 5)), requires_grad=True)
    w = tu.Tensor(g.standard_normal((3, 2, 2, 3)), requires_grad=True)
    b = tu.Tensor(g.standard_normal(3), requires_grad=True)
    assert tu.gradcheck(lambda x, w, b: conv2d(x, w, b, **hyper), (x, w, b))


@pytest.mark.parametrize("hyper", [
    dict(),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1), output_padding=(1, 1)),  # op >= stride
])
def test_conv_transpose2d_gradcheck(kernel_set, hyper):
    g = np.random.default_rng(10)
    x = tu.Tensor(g.standard_normal((2, 2, 3, 4)), requires_grad=True)
    w = tu.Tensor(g.standard_normal((2, 3, 2, 3)), requires_grad=True)
    b = tu.Tensor(g.standard_normal(3), requires_grad=True)
    assert tu.gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, **hyper), (x, w, b))


def test_only_requested_gradients_are_computed(monkeypatch):
    """With a frozen weight, the weight-gradient kernel must not even run."""
    def forbidden(*args):
        raise AssertionError("conv2d_grad_weight ran for a weight that needs no gradient")

    monkeypatch.setattr(numba_cpu, "conv2d_grad_weight", forbidden)
    x = tu.Tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    w = tu.Tensor(np.ones((1, 1, 3, 3), np.float32))
    with tu.use_kernels("numba"):
        conv2d(x, w, padding=1).sum().backward()
        conv_transpose2d(x, w).sum().backward()
    assert w.grad is None
    np.testing.assert_array_equal(x.grad[0, 0, 0], [4 + 9, 6 + 9, 6 + 9, 4 + 9])


# ----- dtypes and plain arrays --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_input_and_arrays_are_accepted(dtype):
    x = np.ones((1, 2, 4, 4), dtype)
    w = tu.Tensor(np.ones((3, 2, 3, 3), np.float64), requires_grad=True)
    y = conv2d(x, w, np.zeros(3, np.float64))
    assert isinstance(y, tu.Tensor) and y.dtype == dtype and y.shape == (1, 3, 2, 2)
    np.testing.assert_array_equal(y.data, 18.0)
    y.sum().backward()
    assert w.grad.dtype == np.float64  # each gradient keeps its own input's dtype
    np.testing.assert_array_equal(w.grad, 4.0)
    x_strided = np.ones((1, 4, 4, 2), dtype).transpose(0, 3, 1, 2)  # not C-contiguous
    assert conv_transpose2d(x_strided, np.ones((2, 1, 2, 2), dtype)).dtype == dtype


# ----- the worked example and the size helpers ----------------------------------------------


def test_worked_example_from_the_docstring(torch, kernel_set):
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.ones((1, 1, 2, 2))
    overlapping = conv_transpose2d(x, w, stride=1).data[0, 0]
    np.testing.assert_array_equal(overlapping, [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    upsampled = conv_transpose2d(x, w, stride=2).data[0, 0]
    np.testing.assert_array_equal(upsampled, np.kron([[1, 2], [3, 4]], np.ones((2, 2))))
    for stride, ours in ((1, overlapping), (2, upsampled)):
        theirs = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w),
                                                      stride=stride)
        np.testing.assert_array_equal(ours, theirs[0, 0].numpy())


def test_two_input_sizes_give_one_output_size():
    assert conv2d_output_size(7, 3, stride=2, padding=1) == 4
    assert conv2d_output_size(8, 3, stride=2, padding=1) == 4
    assert conv_transpose2d_output_size(4, 3, stride=2, padding=1) == 7
    assert conv_transpose2d_output_size(4, 3, stride=2, padding=1, output_padding=1) == 8
    assert conv2d_output_size((7, 8), 3, 2, 1) == (4, 4)
    assert conv_transpose2d_output_size((4, 4), (3, 3), 2, 1, (0, 1)) == (7, 8)


@given(size=st.integers(1, 20), k=small, s=small, p=st.integers(0, 2), d=st.integers(1, 2))
def test_size_helpers_round_trip(size, k, s, p, d):
    """Every input size is recovered from the conv's output size by one output_padding < s."""
    if d * (k - 1) + 1 > size + 2 * p:
        return  # the kernel does not fit: no conv output to invert
    out = conv2d_output_size(size, k, s, p, d)
    candidates = [conv_transpose2d_output_size(out, k, s, p, op, d) for op in range(s)]
    assert candidates == list(range(candidates[0], candidates[0] + s))
    assert size in candidates


def test_size_helpers_match_torch_shapes(torch):
    x = torch.zeros(1, 1, 9, 6)
    w = torch.zeros(1, 1, 3, 2)
    y = torch.nn.functional.conv2d(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    assert conv2d_output_size((9, 6), (3, 2), (2, 1), (1, 0), (1, 2)) == tuple(y.shape[2:])
    y = torch.nn.functional.conv_transpose2d(x, w, stride=(2, 3), padding=(1, 0),
                                             output_padding=(1, 2), dilation=(1, 2))
    size = conv_transpose2d_output_size((9, 6), (3, 2), (2, 3), (1, 0), (1, 2), (1, 2))
    assert size == tuple(y.shape[2:])


# ----- bad input ----------------------------------------------------------------------------

f32 = np.float32
X = np.zeros((1, 3, 5, 5), f32)
W = np.zeros((4, 3, 3, 3), f32)  # conv2d: 3 -> 4 channels
WT = np.zeros((3, 4, 3, 3), f32)  # conv_transpose2d: 3 -> 4 channels

BAD_CONV2D = [
    (dict(input=np.zeros((5, 5), f32)), ValueError,
     r"3-D \(unbatched\) or 4-D input \(N, C_in, H, W\), got shape \(5, 5\)"),
    (dict(input=np.zeros((2, 0, 5, 5), f32)), ValueError,
     r"only the batch dimension may be empty, got input shape \(2, 0, 5, 5\)"),
    (dict(weight=np.zeros((4, 3, 3), f32)), ValueError, r"weight must be 4-D .*\(4, 3, 3\)"),
    (dict(weight=np.zeros((4, 2, 3, 3), f32)), ValueError,
     r"input has 3 channels but weight \(4, 2, 3, 3\) with groups=1 expects 2"),
    (dict(weight=np.zeros((4, 1, 3, 3), f32), groups=3), ValueError,
     r"C_out = 4 must be divisible by groups"),
    (dict(groups=0), ValueError, r"groups must be a positive int, got 0"),
    (dict(bias=np.zeros(3, f32)), ValueError, r"bias must have shape \(4,\) .* got \(3,\)"),
    (dict(weight=np.zeros((4, 3, 6, 3), f32)), ValueError,
     r"kernel \(6, 3\) .* larger than the padded input \(5, 5\)"),
    (dict(weight=np.zeros((4, 3, 3, 3), f32), dilation=3), ValueError,
     r"spans \(7, 7\), larger than the padded input \(5, 5\)"),
    (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(dilation=(1, 0)), ValueError, r"dilation must be >= 1, got \(1, 0\)"),
    (dict(padding=-1), ValueError, r"padding must be >= 0, got -1"),
    (dict(padding="full"), ValueError, r"padding must be 'same', 'valid', .* got 'full'"),
    (dict(padding="same", stride=2), ValueError, r"padding='same' is not supported for strided"),
    (dict(stride=1.5), TypeError, r"stride must be an int or a pair of ints, got 1.5"),
    (dict(padding=(1, 2, 3)), TypeError, r"padding must be an int or a pair of ints"),
    (dict(input=np.zeros((1, 3, 5, 5), np.int64)), TypeError, r"input has dtype int64"),
]


@pytest.mark.parametrize("bad, error, message", BAD_CONV2D)
def test_conv2d_bad_input(bad, error, message):
    args = dict(input=X, weight=W, bias=None) | bad
    with pytest.raises(error, match=message):
        conv2d(**args)


BAD_CONV_TRANSPOSE2D = [
    (dict(input=np.zeros((5, 5), f32)), ValueError,
     r"3-D \(unbatched\) or 4-D input \(N, C_in, H, W\), got shape \(5, 5\)"),
    (dict(weight=np.zeros((3, 4), f32)), ValueError,
     r"weight must be 4-D \(C_in, C_out / groups, kH, kW\)"),
    (dict(weight=np.zeros((3, 2, 3, 3), f32), groups=2), ValueError,
     r"must be divisible by groups=2"),
    (dict(weight=W), ValueError,
     r"input has 3 channels but weight \(4, 3, 3, 3\) expects 4 \(a transposed conv's weight"),
    (dict(bias=np.zeros(3, f32)), ValueError, r"bias must have shape \(4,\) .* got \(3,\)"),
    (dict(stride=(0, 1)), ValueError, r"stride must be >= 1"),
    (dict(dilation=0), ValueError, r"dilation must be >= 1"),
    (dict(padding=(0, -2)), ValueError, r"padding must be >= 0"),
    (dict(output_padding=-1), ValueError, r"output_padding must be >= 0"),
    (dict(output_padding=1), ValueError,
     r"output_padding \(1, 1\) must be smaller than either stride \(1, 1\) or dilation"),
    (dict(stride=2, output_padding=(1, 2)), ValueError, r"output_padding \(1, 2\) must be smaller"),
    (dict(padding="same"), ValueError, r"padding must be an int or a pair of ints, got 'same'"),
    (dict(input=np.zeros((1, 3, 1, 1), f32), weight=np.zeros((3, 4, 1, 1), f32), padding=1),
     ValueError, r"output size would be \(-1, -1\)"),
    (dict(weight=np.zeros((3, 4, 3, 3), bool)), TypeError, r"weight has dtype bool"),
]


@pytest.mark.parametrize("bad, error, message", BAD_CONV_TRANSPOSE2D)
def test_conv_transpose2d_bad_input(bad, error, message):
    args = dict(input=X, weight=WT, bias=None) | bad
    with pytest.raises(error, match=message):
        conv_transpose2d(**args)
