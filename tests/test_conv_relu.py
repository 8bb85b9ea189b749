"""conv2d_relu, the fused conv + ReLU: exactly relu(conv2d(...)), forward and backward.

Against PyTorch on shapes that reach each fast algorithm (direct, Winograd, im2col), against the
two plain ops composed from the reference kernels, by finite differences, with NaN and inf, and
its bad-input messages.
"""

import numpy as np
import pytest

import tinyunet as tu
from tinyunet.kernels import numba_cpu, reference
from tinyunet.models.blocks import ConvBlock
from tinyunet.ops.conv import conv2d
from tinyunet.ops.conv_relu import Conv2dReLU, conv2d_relu

# (x shape, w shape, padding, stride, dilation): the fast algorithm each one takes
CASES = {
    "direct": ((2, 3, 9, 20), (8, 3, 3, 3), (1, 1), (1, 1), (1, 1)),
    "winograd": ((2, 32, 6, 7), (32, 32, 3, 3), (1, 1), (1, 1), (1, 1)),
    "im2col": ((2, 3, 7, 6), (4, 3, 3, 2), (1, 0), (2, 1), (1, 2)),
    "first layer": ((2, 1, 8, 16), (4, 1, 3, 3), (1, 1), (1, 1), (1, 1)),
}


def _inputs(case, dtype, seed=0, bias=True):
    g = np.random.default_rng(seed)
    x_shape, w_shape = case[:2]
    x = g.standard_normal(x_shape).astype(dtype)
    w = (g.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(dtype)
    b = g.standard_normal(w_shape[0]).astype(dtype) if bias else None
    return x, w, b


def _run(x, w, b, case, needs_x=True, grad_seed=1):
    padding, stride, dilation = case[2:]
    xt = tu.Tensor(x, requires_grad=needs_x)
    wt = tu.Tensor(w, requires_grad=True)
    bt = None if b is None else tu.Tensor(b, requires_grad=True)
    a = conv2d_relu(xt, wt, bt, stride, padding, dilation)
    grad = np.random.default_rng(grad_seed).standard_normal(a.shape).astype(x.dtype)
    a.backward(grad)
    return a.data, grad, [t.grad for t in (xt, wt, bt) if t is not None]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_forward_and_backward(torch, kernel_set, name, dtype, bias):
    case = CASES[name]
    x, w, b = _inputs(case, dtype, bias=bias)
    needs_x = name != "first layer"  # the image needs no gradient
    a, grad, grads = _run(x, w, b, case, needs_x)
    padding, stride, dilation = case[2:]
    ts = [torch.tensor(v, requires_grad=r) for v, r in ((x, needs_x), (w, True), (b, True))
          if v is not None]
    ta = torch.relu(torch.nn.functional.conv2d(*ts, stride=stride, padding=padding,
                                               dilation=dilation))
    ta.backward(torch.tensor(grad))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert a.dtype == dtype
    np.testing.assert_allclose(a, ta.detach().numpy(), **tol)
    assert (grads[0] is None) == (not needs_x)
    for ours, theirs in zip(grads, ts):
        if ours is not None:
            np.testing.assert_allclose(ours, theirs.grad.numpy(), **tol)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN in, NaN out
@pytest.mark.parametrize("non_finite", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_fused_kernels_equal_the_two_reference_ops(name, non_finite):
    """The numba set's fused kernels against relu(conv2d) and relu_backward + sum, composed
    from the reference kernels; NaN and inf spread to exactly the same places."""
    case = CASES[name]
    x, w, b = _inputs(case, np.float64, seed=2)
    padding, stride, dilation = case[2:]
    if non_finite:
        x[0, 0, 1, 2], x[-1, -1, -1, -1], x[0, -1, 0, 0] = np.nan, np.inf, -np.inf
    hyper = (stride, padding, dilation)
    z = reference.conv2d(x, w, b, *hyper)
    a = reference.relu(z)
    np.testing.assert_allclose(numba_cpu.conv2d_relu(x, w, b, *hyper), a, rtol=1e-12,
                               atol=1e-12)
    grad = np.random.default_rng(3).standard_normal(a.shape)
    grad_z, grad_b = numba_cpu.relu_backward_sum(grad, a)
    expected = reference.relu_backward(grad, a)
    np.testing.assert_array_equal(grad_z, expected)
    np.testing.assert_allclose(grad_b, expected.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    in_place, in_place_b = numba_cpu.relu_backward_sum(grad, a, out=grad)  # grad overwritten
    assert in_place is grad
    np.testing.assert_array_equal(in_place, expected)
    np.testing.assert_array_equal(in_place_b, grad_b)


def test_other_kernel_sets_compose_the_plain_kernels():
    """The reference set has no fused kernels: the op takes relu(conv2d) there, and both sets
    give the same numbers."""
    assert not hasattr(reference, "conv2d_relu")
    case = CASES["winograd"]
    x, w, b = _inputs(case, np.float64, seed=4)
    runs = []
    for name in ("reference", "numba"):
        with tu.use_kernels(name):
            runs.append(_run(x, w, b, case))
    (a0, _, g0), (a1, _, g1) = runs
    np.testing.assert_allclose(a1, a0, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(g1, g0):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


def test_gradcheck(kernel_set):
    g = np.random.default_rng(5)
    x = tu.Tensor(g.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = tu.Tensor(g.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = tu.Tensor(g.standard_normal(3), requires_grad=True)
    assert tu.gradcheck(lambda x, w, b: conv2d_relu(x, w, b, padding=1), (x, w, b))


def test_the_unets_blocks_use_the_fused_op_and_keep_no_pre_activation():
    block = ConvBlock(2, 4)
    y = block(tu.Tensor(np.ones((1, 2, 8, 8), np.float32), requires_grad=True))
    assert y._node.fn is Conv2dReLU
    (x, w, a) = y._node.ctx.saved_tensors
    assert a is y.data  # the output is the only map the op keeps of its own
    norm_block = ConvBlock(2, 4, norm="batch")  # a norm sits between: the plain ops
    assert norm_block(tu.Tensor(np.ones((2, 2, 8, 8), np.float32)))._node.fn.__name__ == "ReLU"
    z = conv2d(np.ones((1, 2, 8, 8)), np.ones((4, 2, 3, 3)), padding="same")
    np.testing.assert_array_equal(conv2d_relu(np.ones((1, 2, 8, 8)), np.ones((4, 2, 3, 3)),
                                              padding="same").data, np.maximum(z.data, 0))


X, W = np.zeros((1, 3, 5, 5), np.float32), np.zeros((4, 3, 3, 3), np.float32)
BAD = [
    (dict(x=np.zeros((3, 5, 5), np.float32)), ValueError, r"must be 4-D, got shapes \(3, 5, 5\)"),
    (dict(weight=np.zeros((4, 2, 3, 3), np.float32)), ValueError,
     r"input has 3 channels but weight \(4, 2, 3, 3\) expects 2"),
    (dict(bias=np.zeros(3, np.float32)), ValueError, r"bias must have shape \(4,\) .* got \(3,\)"),
    (dict(weight=np.zeros((4, 3, 7, 3), np.float32)), ValueError,
     r"kernel \(7, 3\) .* larger than the padded input \(5, 5\)"),
    (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(padding=-1), ValueError, r"padding must be >= 0, got -1"),
    (dict(x=np.zeros((1, 3, 5, 5), np.int64)), TypeError, r"input has dtype int64"),
]


@pytest.mark.parametrize("bad, error, message", BAD)
def test_bad_input(bad, error, message):
    args = dict(x=X, weight=W, bias=None) | bad
    with pytest.raises(error, match=message):
        conv2d_relu(**args)


def test_the_backward_drops_its_saved_output_unless_the_graph_is_retained():
    """Last use (no retain_graph): the output saved for the mask is dropped once the mask is
    made, so it can be freed before grad_x is made. With retain_graph it stays, and a second
    backward adds the same gradients again."""
    case = CASES["winograd"]
    x, w, b = _inputs(case, np.float32, seed=5)
    hyper = dict(stride=case[3], padding=case[2], dilation=case[4])

    def run(backwards):
        leaves = [tu.Tensor(v, requires_grad=True) for v in (x, w, b)]
        a = conv2d_relu(*leaves, **hyper)
        ctx, loss = a._node.ctx, (a * a).sum()
        for k in range(backwards):
            loss.backward(retain_graph=k < backwards - 1)
            if k < backwards - 1:
                assert ctx.saved_tensors[2] is not None
        assert ctx.saved_tensors == () or ctx.saved_tensors[2] is None
        return [t.grad for t in leaves]

    for once, twice in zip(run(1), run(2)):
        np.testing.assert_allclose(twice, 2 * once, rtol=1e-6)
