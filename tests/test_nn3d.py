"""The 3-D layers: Conv3d, ConvTranspose3d, MaxPool3d, BatchNorm3d and GroupNorm on volumes,
each against its PyTorch namesake with the same weights (state_dict keys and shapes, outputs,
gradients, running statistics), their initialisation, printing and refusals."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.nn as nn
from tinyunet.ops.norm import group_norm


def load_into_torch(torch, ours, theirs):
    """Copy our state_dict into the torch layer, keys and shapes unchanged (strict)."""
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()}, strict=True)
    return theirs


def both(torch, ours, theirs, x, train=True):
    """Outputs and input/parameter gradients of both layers on x, after sum-of-squares."""
    ours.train(train), theirs.train(train)
    xt, x_t = tu.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, y_t = ours(xt), theirs(x_t)
    (y * y).sum().backward()
    (y_t * y_t).sum().backward()
    grads = [p.grad for p in ours.parameters()]
    grads_t = [p.grad.numpy() for p in theirs.parameters()]
    return (y.data, xt.grad, grads), (y_t.detach().numpy(), x_t.grad.numpy(), grads_t)


def assert_close(ours, theirs):
    (y, gx, gp), (y_t, gx_t, gp_t) = ours, theirs
    np.testing.assert_allclose(y, y_t, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx, gx_t, rtol=1e-4, atol=1e-3)
    assert len(gp) == len(gp_t)
    for g, g_t in zip(gp, gp_t):
        np.testing.assert_allclose(g, g_t, rtol=1e-4, atol=1e-3)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("make", [
    lambda m: m.Conv3d(2, 4, 3, padding=1),
    lambda m: m.Conv3d(4, 6, (1, 3, 2), stride=(1, 2, 1), dilation=(2, 1, 1), groups=2,
                       bias=False),
    lambda m: m.Conv3d(2, 3, 2, padding="same"),
    lambda m: m.ConvTranspose3d(2, 4, 2, stride=2),
    lambda m: m.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
], ids=["3x3x3", "grouped", "same", "up-conv", "grouped-transposed"])
def test_conv_layers_match_torch(torch, make):
    tu.manual_seed(0)
    ours = make(nn)
    theirs = make(torch.nn)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    load_into_torch(torch, ours, theirs)
    x = np.random.default_rng(0).standard_normal((2, ours.in_channels, 4, 5, 4)).astype(np.float32)
    assert_close(*both(torch, ours, theirs, x))
    assert repr(ours) == repr(theirs)


def test_conv3d_initialisation_bounds():
    """kaiming_uniform_(a=sqrt(5)): weight and bias in U(-b, b), b = 1/sqrt(fan_in), fan_in =
    weight.shape[1] * kD kH kW (C_out for a transposed conv's (C_in, C_out, ...) weight)."""
    tu.manual_seed(1)
    for layer, fan_in in ((nn.Conv3d(4, 8, 3), 4 * 27), (nn.ConvTranspose3d(8, 2, 2), 2 * 8)):
        bound = 1 / np.sqrt(fan_in)
        for p in (layer.weight.data, layer.bias.data):
            assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound


def test_conv_transpose3d_output_size_picks_the_padding(torch):
    up = nn.ConvTranspose3d(1, 1, 3, stride=2, padding=1)
    x = tu.zeros(1, 1, 3, 4, 5)
    assert up(x).shape == (1, 1, 5, 7, 9)
    assert up(x, output_size=(6, 7, 10)).shape == (1, 1, 6, 7, 10)
    with pytest.raises(ValueError, match=r"output_size \(8, 7, 9\) cannot be reached .* "
                       r"between \(5, 7, 9\) and \(6, 8, 10\)"):
        up(x, output_size=(8, 7, 9))


def test_maxpool3d_layer(torch):
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 6, 7)).astype(np.float32)
    for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, dilation=1,
                                             ceil_mode=True)):
        ours, theirs = nn.MaxPool3d(**kwargs), torch.nn.MaxPool3d(**kwargs)
        np.testing.assert_array_equal(ours(x).data, theirs(torch.tensor(x)).numpy())
    y, indices = nn.MaxPool3d(2, return_indices=True)(x)
    assert y.shape == indices.shape == (1, 2, 2, 3, 3) and indices.dtype == np.int64
    assert "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False" in repr(
        nn.MaxPool3d(2))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm3d_matches_torch_in_train_and_eval(torch, momentum):
    ours = nn.BatchNorm3d(3, momentum=momentum)
    theirs = torch.nn.BatchNorm3d(3, momentum=momentum)
    g = np.random.default_rng(3)
    ours.weight.data[:] = g.standard_normal(3)
    ours.bias.data[:] = g.standard_normal(3)
    load_into_torch(torch, ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for step in range(2):
        x = (g.standard_normal((2, 3, 3, 4, 2)) * 2 + step).astype(np.float32)
        assert_close(*both(torch, ours, theirs, x, train=True))
        for p in list(ours.parameters()) + list(theirs.parameters()):
            p.grad = None
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name).data,
                                   getattr(theirs, name).numpy(), rtol=1e-5)
    assert int(ours.num_batches_tracked.data) == 2
    x = g.standard_normal((1, 3, 2, 2, 2)).astype(np.float32)
    assert_close(*both(torch, ours, theirs, x, train=False))
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected a 5-D input \(N, C, D, H, W\), "
                       r"got shape \(2, 3, 4, 4\)"):
        ours(tu.zeros(2, 3, 4, 4))


def test_group_norm_on_volumes_matches_torch(torch):
    """GroupNorm's statistics run over (C/G, D, H, W): nothing in it is 2-D."""
    ours, theirs = nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)
    ours.weight.data[:] = [0.5, 1.0, 1.5, 2.0]
    load_into_torch(torch, ours, theirs)
    x = np.random.default_rng(4).standard_normal((2, 4, 3, 2, 3)).astype(np.float32)
    assert_close(*both(torch, ours, theirs, x))
    g = np.random.default_rng(5)
    args = [tu.Tensor(g.standard_normal(s), requires_grad=True) for s in ((1, 4, 2, 2, 3), 4, 4)]
    assert tu.gradcheck(lambda x, w, b: group_norm(x, 2, w, b), args)


def test_refusals():
    with pytest.raises(NotImplementedError, match=r"padding_mode='reflect' is not supported"):
        nn.Conv3d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"must both be divisible by groups \(2\)"):
        nn.Conv3d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"padding must be an int or a triple of ints, got 'same'"):
        nn.ConvTranspose3d(1, 1, 3, padding="same")
