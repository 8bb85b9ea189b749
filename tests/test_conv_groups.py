"""conv2d / conv_transpose2d beyond the U-Net's plain case: groups (depthwise included),
unbatched (C, H, W) inputs, empty batches, PyTorch's argument order, and Conv2d's padding
modes; against PyTorch forward and backward, in both kernel sets and dtypes, and gradcheck."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.nn as nn
from tinyunet.ops.conv import conv2d, conv_transpose2d

# (x shape, weight shape, hyper-parameters): grouped, depthwise, depthwise with a multiplier,
# strided and dilated groups, and unbatched inputs
GROUPED = [
    ((2, 4, 6, 5), (6, 2, 3, 2), dict(groups=2)),
    ((2, 4, 6, 6), (4, 1, 3, 3), dict(groups=4, padding=1)),                 # depthwise
    ((1, 4, 6, 6), (8, 1, 3, 3), dict(groups=4, stride=(2, 1))),             # multiplier 2
    ((2, 4, 8, 8), (2, 2, 3, 3), dict(groups=2, stride=(3, 2), padding=(2, 1), dilation=2)),
    ((4, 6, 5), (4, 2, 3, 3), dict(groups=2, padding="same")),               # unbatched
    ((3, 5, 5), (6, 1, 2, 2), dict(groups=3, dilation=(2, 1))),
]
TRANSPOSED = [
    ((2, 4, 4, 4), (4, 1, 3, 3), dict(groups=4)),                            # depthwise
    ((2, 2, 4, 4), (2, 2, 4, 5), dict(stride=(3, 2), padding=(1, 2), output_padding=(2, 3),
                                      groups=2, dilation=(4, 4))),
    ((1, 6, 3, 4), (6, 1, 2, 2), dict(stride=2, groups=3)),
    ((4, 3, 3), (4, 2, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
]


def _compare(torch, ours, theirs, x, w, b, dtype, **hyper):
    rng = np.random.default_rng(0)
    arrays = [a.astype(dtype) for a in (x, w, b)]
    tensors = [tu.Tensor(a, requires_grad=True) for a in arrays]
    y = ours(*tensors, **hyper)
    t = [torch.tensor(a, requires_grad=True) for a in arrays]
    ty = theirs(*t, **hyper)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for mine, theirs_t in zip(tensors, t, strict=True):
        np.testing.assert_allclose(mine.grad, theirs_t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, hyper", GROUPED)
def test_grouped_conv2d_matches_torch(kernel_set, torch, dtype, x_shape, w_shape, hyper):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    _compare(torch, conv2d, torch.nn.functional.conv2d, x, w, b, dtype, **hyper)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, hyper", TRANSPOSED)
def test_grouped_conv_transpose2d_matches_torch(kernel_set, torch, dtype, x_shape, w_shape,
                                                hyper):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * hyper["groups"])
    _compare(torch, conv_transpose2d, torch.nn.functional.conv_transpose2d, x, w, b, dtype,
             **hyper)


def test_groups_are_independent_convolutions(kernel_set):
    """A grouped conv is the groups' own convs side by side: no channel of one group ever
    reaches an output of another."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 6, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    y = conv2d(x, w, groups=2, padding=1).data
    np.testing.assert_allclose(y[:, :2], conv2d(x[:, :3], w[:2], padding=1).data, atol=1e-12)
    np.testing.assert_allclose(y[:, 2:], conv2d(x[:, 3:], w[2:], padding=1).data, atol=1e-12)


def test_the_adjoint_pair_holds_group_by_group(kernel_set):
    """<conv2d(x, w; groups), y> == <x, conv_transpose2d(y, w; groups)>."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 6, 7, 6)), rng.standard_normal((9, 2, 3, 2))
    hyper = dict(stride=2, padding=1, dilation=(1, 2))
    Ax = conv2d(x, w, groups=3, **hyper).data
    y = rng.standard_normal(Ax.shape)
    ATy = conv_transpose2d(y, w, groups=3, output_padding=(0, 1), **hyper).data
    assert ATy.shape == x.shape
    np.testing.assert_allclose(np.vdot(Ax, y), np.vdot(x, ATy), rtol=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
def test_grouped_conv_gradcheck(kernel_set, transposed):
    rng = np.random.default_rng(0)
    if transposed:
        x, w, b = (rng.standard_normal(s) for s in ((1, 4, 3, 3), (4, 1, 2, 2), (2,)))
        fn = lambda x, w, b: conv_transpose2d(x, w, b, stride=2, groups=2)  # noqa: E731
    else:
        x, w, b = (rng.standard_normal(s) for s in ((1, 4, 4, 4), (6, 2, 2, 2), (6,)))
        fn = lambda x, w, b: conv2d(x, w, b, padding=1, groups=2)  # noqa: E731
    inputs = tuple(tu.Tensor(a, requires_grad=True) for a in (x, w, b))
    assert tu.gradcheck(fn, inputs)


@pytest.mark.parametrize("fn, w_shape", [
    (lambda x, w, b: conv2d(x, w, b, padding=1, groups=2), (4, 1, 3, 3)),
    (lambda x, w, b: conv_transpose2d(x, w, b, stride=2, groups=2), (2, 2, 2, 2)),
])
def test_an_empty_batch_gives_an_empty_output_and_zero_weight_gradients(kernel_set, torch, fn,
                                                                         w_shape):
    w = tu.Tensor(np.ones(w_shape), requires_grad=True)
    b = tu.Tensor(np.ones(4), requires_grad=True)
    x = tu.Tensor(np.zeros((0, 2, 5, 5)), requires_grad=True)
    y = fn(x, w, b)
    assert y.shape[:2] == (0, 4)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(w.grad, 0)
    np.testing.assert_array_equal(b.grad, 0)


def test_conv_transpose2d_takes_groups_before_dilation(torch):
    """PyTorch's order: (input, weight, bias, stride, padding, output_padding, groups,
    dilation); a positional call reads the same in both frameworks."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 1, 2, 2))
    ours = conv_transpose2d(x, w, None, 1, 0, 0, 2, 2).data
    theirs = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, 1, 0,
                                                  0, 2, 2)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-12)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding, kernel", [(1, 3), ((2, 1), 3), ("same", 4), ("valid", 2)])
def test_conv2d_layer_padding_modes_match_torch(kernel_set, torch, padding_mode, padding,
                                                kernel):
    tu.manual_seed(0)
    layer = nn.Conv2d(4, 6, kernel, padding=padding, padding_mode=padding_mode, groups=2)
    twin = torch.nn.Conv2d(4, 6, kernel, padding=padding, padding_mode=padding_mode, groups=2,
                           dtype=torch.float64)
    layer.double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 6))
    X = tu.Tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y, ty = layer(X), twin(t)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-10)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(X.grad, t.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(layer.weight.grad, twin.weight.grad.numpy(), atol=1e-10)


def test_conv_layers_take_groups_and_refuse_bad_modes():
    layer = nn.Conv2d(4, 8, 3, groups=4)
    assert layer.weight.shape == (8, 1, 3, 3) and "groups=4" in repr(layer)
    assert nn.ConvTranspose2d(4, 6, 2, groups=2).weight.shape == (4, 3, 2, 2)
    with pytest.raises(ValueError, match=r"must both be divisible by groups \(3\)"):
        nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(4, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='only padding_mode "zeros" is supported'):
        nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect")
