"""tinyunet.nn against torch.nn: every layer's forward and backward with copied weights,
state_dict names, checkpoints, modes, printing, initialisation and seeding."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
import tinyunet.nn as nn
from tinyunet.ops.concat import cat
from tinyunet.ops.dropout import dropout
from tinyunet.ops.linear import linear
from tinyunet.ops.norm import batch_norm, group_norm

# ----- helpers ------------------------------------------------------------------------------


def twin(torch, make):
    """The same layer built by tinyunet and by torch, torch's weights copied from ours (which
    also checks that the state_dict key names and shapes agree: torch loads strictly)."""
    ours, theirs = make(nn), make(torch.nn)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def assert_close(a, b, atol=1e-5, rtol=1e-4):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=rtol)


def check_forward_backward(torch, ours, theirs, shape, seed=0):
    """Forward, backward (input and parameter grads) and state after the call agree."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    x_ours, x_theirs = tu.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    assert y_ours.shape == tuple(y_theirs.shape)
    assert_close(y_ours.data, y_theirs.detach().numpy())
    g = rng.standard_normal(y_ours.shape).astype(np.float32)
    y_ours.backward(g)
    y_theirs.backward(torch.from_numpy(g))
    assert_close(x_ours.grad, x_theirs.grad.numpy())
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, their_params[name].grad.numpy())
    their_state = theirs.state_dict()
    for name, value in ours.state_dict().items():  # e.g. BatchNorm's running statistics
        assert_close(value, their_state[name].numpy())


def small_net(nn, p=0.3):
    """A little encoder-decoder with every kind of layer, built from either framework
    (``p``: its dropout probability)."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.GroupNorm(2, 4),
                      nn.LeakyReLU(0.2)),
        nn.MaxPool2d(2),
        nn.ConvTranspose2d(4, 2, 2, stride=2),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.AvgPool2d(2),
        nn.SiLU(),
        nn.Dropout(p),
        nn.Conv2d(2, 3, 1),
        nn.Identity(),
    )


def unet_block(nn, cat):
    """A U-Net-shaped custom Module, to check nested dotted names (ModuleList inside);
    ``cat`` is the framework's concatenation."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.ModuleList([
                nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()),
                nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
            ])
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            skip = self.encoder[0](x)
            deep = self.encoder[1](self.pool(skip))
            return self.head(cat([skip, self.up(deep)], dim=1))

    return Block()


# ----- every layer against torch ------------------------------------------------------------

LAYERS = [
    pytest.param(lambda nn: nn.Conv2d(3, 4, 3), (2, 3, 6, 5), id="conv"),
    pytest.param(lambda nn: nn.Conv2d(3, 4, (3, 2), stride=2, padding=1, dilation=(1, 2)),
                 (2, 3, 7, 8), id="conv-strided-dilated"),
    pytest.param(lambda nn: nn.Conv2d(2, 3, 4, padding="same", bias=False), (1, 2, 5, 5),
                 id="conv-same-even"),
    pytest.param(lambda nn: nn.ConvTranspose2d(3, 2, 2, stride=2), (2, 3, 3, 4),
                 id="convT-up2"),
    pytest.param(lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                               output_padding=1, bias=False),
                 (1, 3, 4, 3), id="convT-output_padding"),
    pytest.param(lambda nn: nn.Linear(5, 3), (2, 4, 5), id="linear"),
    pytest.param(lambda nn: nn.Linear(5, 2, bias=False), (3, 5), id="linear-nobias"),
    pytest.param(lambda nn: nn.MaxPool2d(2), (2, 3, 6, 5), id="maxpool"),
    pytest.param(lambda nn: nn.MaxPool2d(3, stride=2, padding=1), (1, 2, 7, 6),
                 id="maxpool-padded"),
    pytest.param(lambda nn: nn.AvgPool2d(2), (2, 3, 6, 4), id="avgpool"),
    pytest.param(lambda nn: nn.Upsample(scale_factor=2), (1, 2, 3, 4), id="upsample-nearest"),
    pytest.param(lambda nn: nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True),
                 (1, 2, 3, 4), id="upsample-bilinear-corners"),
    pytest.param(lambda nn: nn.BatchNorm2d(3), (4, 3, 3, 2), id="batchnorm-train"),
    pytest.param(lambda nn: nn.BatchNorm2d(3, affine=False, momentum=None), (2, 3, 2, 2),
                 id="batchnorm-cumulative"),
    pytest.param(lambda nn: nn.BatchNorm2d(3, bias=False), (2, 3, 2, 2),
                 id="batchnorm-nobias"),
    pytest.param(lambda nn: nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 2, 2),
                 id="batchnorm-untracked"),
    pytest.param(lambda nn: nn.GroupNorm(2, 4), (2, 4, 3, 3), id="groupnorm"),
    pytest.param(lambda nn: nn.GroupNorm(1, 4, bias=False), (2, 4, 2, 2),
                 id="groupnorm-layer-nobias"),
    pytest.param(lambda nn: nn.GroupNorm(4, 4, affine=False), (1, 4, 2, 3),
                 id="groupnorm-instance"),
    pytest.param(lambda nn: nn.ReLU(), (2, 3, 4), id="relu"),
    pytest.param(lambda nn: nn.LeakyReLU(0.2), (2, 3, 4), id="leaky_relu"),
    pytest.param(lambda nn: nn.SiLU(), (2, 3, 4), id="silu"),
    pytest.param(lambda nn: nn.Sigmoid(), (2, 3, 4), id="sigmoid"),
    pytest.param(lambda nn: nn.Tanh(), (2, 3, 4), id="tanh"),
    pytest.param(lambda nn: nn.Identity(), (2, 3), id="identity"),
    pytest.param(lambda nn: nn.Dropout(0.5).eval(), (2, 3), id="dropout-eval"),
    pytest.param(lambda nn: small_net(nn, p=0.0), (2, 1, 8, 8), id="small-net-train"),
    pytest.param(lambda nn: small_net(nn).eval(), (2, 1, 8, 8), id="small-net-eval"),
]


@pytest.mark.parametrize("make, shape", LAYERS)
def test_layer_matches_torch(torch, make, shape):
    ours, theirs = twin(torch, make)
    check_forward_backward(torch, ours, theirs, shape)


def test_batchnorm_eval_uses_running_stats(torch, rng):
    ours = nn.BatchNorm2d(3)
    ours.running_mean.data[:] = rng.standard_normal(3)
    ours.running_var.data[:] = rng.uniform(0.5, 2, 3)
    ours.weight.data[:] = rng.standard_normal(3)
    ours.bias.data[:] = rng.standard_normal(3)
    theirs = torch.nn.BatchNorm2d(3)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    ours.eval(), theirs.eval()
    check_forward_backward(torch, ours, theirs, (2, 3, 4, 4))
    assert int(ours.num_batches_tracked.data) == 0  # eval does not count batches


def test_batchnorm_running_stats_after_two_steps_then_eval(torch, rng):
    ours, theirs = twin(torch, lambda nn: nn.BatchNorm2d(3, momentum=0.3))
    for _ in range(2):
        x = (rng.standard_normal((4, 3, 3, 3)) * 2 + 1).astype(np.float32)
        ours(x)
        theirs(torch.from_numpy(x))
    their_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        assert_close(value, their_state[name].numpy(), atol=1e-6)
    assert ours.num_batches_tracked.dtype == np.int64 and int(ours.num_batches_tracked.data) == 2
    ours.eval(), theirs.eval()
    check_forward_backward(torch, ours, theirs, (2, 3, 3, 3))


@settings(max_examples=15)
@given(n=st.integers(1, 3), groups=st.sampled_from([1, 2, 4]), per_group=st.integers(1, 2),
       h=st.integers(1, 4), w=st.integers(1, 4))
def test_groupnorm_matches_torch_on_any_shape(torch, n, groups, per_group, h, w):
    make = lambda nn: nn.GroupNorm(groups, groups * per_group)
    ours, theirs = twin(torch, make)
    ours.weight.data[:] = np.linspace(-1, 2, groups * per_group)
    theirs.weight.data[:] = torch.from_numpy(ours.weight.data)
    shape = (n, groups * per_group, h, w)
    if n * per_group * h * w == 1:  # as in torch: refused when the batch has one value per group
        with pytest.raises(ValueError, match="more than 1 value per group"):
            ours(np.zeros(shape, np.float32))
    elif per_group * h * w == 1:  # one value per group: normalised to 0, so y = bias, dL/dx = 0
        x = tu.Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
        y = ours.double()(x)
        np.testing.assert_array_equal(y.data, np.broadcast_to(ours.bias.data[:, None, None],
                                                              shape))
        y.backward(np.ones(shape))
        np.testing.assert_array_equal(x.grad, 0)  # (torch's own rounding leaves ~1e-5 here)
    else:
        check_forward_backward(torch, ours, theirs, shape)


def test_conv_transpose_output_size_matches_torch(torch, rng):
    ours, theirs = twin(torch, lambda nn: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1))
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    for size in [(7, 7), (8, 7), (1, 3, 8, 8)]:
        y, y_t = ours(x, output_size=size), theirs(torch.from_numpy(x), output_size=size)
        assert_close(y.data, y_t.detach().numpy())
    with pytest.raises(ValueError, match=r"output_size \(9, 9\).*between \(7, 7\) and \(8, 8\)"):
        ours(x, output_size=(9, 9))


# ----- gradients in float64 -----------------------------------------------------------------


def _leaf(rng, *shape):
    return tu.Tensor(rng.standard_normal(shape), requires_grad=True)


def test_gradcheck_batch_norm_train_and_eval(rng):
    x, w, b = _leaf(rng, 3, 2, 2, 2), _leaf(rng, 2), _leaf(rng, 2)
    assert tu.gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
                        (x, w, b))
    mean, var = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    assert tu.gradcheck(lambda x, w, b: batch_norm(x, mean, var, w, b, training=False),
                        (x, w, b))


def test_gradcheck_batch_norm_without_affine_on_2d_input(rng):
    x = _leaf(rng, 5, 3)
    assert tu.gradcheck(lambda x: batch_norm(x, None, None, training=True) ** 2, (x,))


def test_gradcheck_group_norm(rng):
    x, w, b = _leaf(rng, 2, 4, 2, 2), _leaf(rng, 4), _leaf(rng, 4)
    assert tu.gradcheck(lambda x, w, b: group_norm(x, 2, w, b), (x, w, b))
    assert tu.gradcheck(lambda x: group_norm(x, 4) ** 3, (x,))


def test_gradcheck_linear(rng):
    x, w, b = _leaf(rng, 2, 3, 4), _leaf(rng, 5, 4), _leaf(rng, 5)
    assert tu.gradcheck(linear, (x, w, b))
    assert tu.gradcheck(linear, (x, w))


def test_norm_and_linear_errors_name_the_shapes():
    x = np.zeros((2, 6, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"6 channels.*shape \(2, 6, 3, 3\).*4 groups"):
        group_norm(x, 4)
    with pytest.raises(ValueError, match=r"num_channels \(6\).*num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"running_mean has shape \(4,\).*6 channels"):
        batch_norm(x, np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(np.zeros((1, 3), np.float32), None, None, training=True)
    with pytest.raises(ValueError, match="4-D input"):
        nn.BatchNorm2d(6)(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 5\) has 5 features.*\(3, 4\) expects 4"):
        linear(np.zeros((2, 5), np.float32), np.zeros((3, 4), np.float32))


# ----- state_dict, checkpoints, modes, printing ---------------------------------------------


@pytest.mark.parametrize("net", ["small_net", "unet_block"])
def test_state_dict_keys_shapes_and_counts_equal_torch(torch, net):
    if net == "small_net":
        ours, theirs = small_net(nn), small_net(torch.nn)
    else:
        ours, theirs = unet_block(nn, cat), unet_block(torch.nn, torch.cat)
    our_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(our_state) == list(their_state)  # same names, same order
    for name, value in our_state.items():
        assert value.shape == tuple(their_state[name].shape), name
        assert value.dtype == their_state[name].numpy().dtype, name
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in theirs.parameters())


def test_torch_state_dict_loads_into_the_twin(torch, rng):
    """A PyTorch checkpoint loads directly, and the twin then computes the same function."""
    theirs, ours = unet_block(torch.nn, torch.cat), unet_block(nn, cat)
    for m in theirs.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
    ours.load_state_dict(theirs.state_dict())
    ours.eval(), theirs.eval()
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert_close(ours(x).data, expected)


def test_load_state_dict_round_trip_and_copies(rng):
    tu.manual_seed(0)
    a = small_net(nn)
    tu.manual_seed(1)
    b = small_net(nn)
    state = a.state_dict()
    assert not np.array_equal(state["0.weight"], b.state_dict()["0.weight"])
    result = b.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    a.eval(), b.eval()
    x = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    state["0.weight"][...] = 0  # the state_dict holds copies, not the model's arrays
    assert np.abs(a[0].weight.data).max() > 0


def test_load_state_dict_lists_missing_unexpected_and_mismatched_keys():
    model = small_net(nn)
    state = model.state_dict()
    del state["1.running_var"]
    state["extra.weight"] = np.zeros(3)
    state["10.weight"] = np.zeros((3, 2, 3, 3))
    before = model[0].weight.data.copy()
    state["0.weight"] += 1
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(state)
    message = str(err.value)
    assert "Sequential" in message
    assert "missing key(s): 1.running_var" in message
    assert "unexpected key(s): extra.weight" in message
    assert ("size mismatch for 10.weight: the checkpoint has shape (3, 2, 3, 3), the model has "
            "shape (3, 2, 1, 1)") in message
    np.testing.assert_array_equal(model[0].weight.data, before)  # nothing half-loaded

    state["10.weight"] = np.zeros((3, 2, 1, 1))
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["1.running_var"] and result.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(model[0].weight.data, before + 1)


def test_train_eval_propagate():
    model = unet_block(nn, cat)
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_repr_equals_torch(torch):
    assert repr(small_net(nn)) == repr(small_net(torch.nn))
    assert repr(unet_block(nn, cat)) == repr(unet_block(torch.nn, torch.cat))
    layers = lambda nn: nn.Sequential(nn.Linear(3, 2, bias=False), nn.Tanh(), nn.Sigmoid(),
                                      nn.Conv2d(2, 2, 3, padding="same", dilation=2),
                                      nn.ConvTranspose2d(2, 1, 3, 2, 1, 1, bias=False),
                                      nn.BatchNorm2d(3, affine=False, momentum=None),
                                      nn.Upsample(size=(4, 4)), nn.ReLU(inplace=True))
    assert repr(layers(nn)) == repr(layers(torch.nn))


def test_module_registration_and_traversal():
    model = unet_block(nn, cat)
    assert [name for name, _ in model.named_children()] == ["encoder", "pool", "up", "head"]
    assert "encoder.1.0.weight" in dict(model.named_parameters())
    assert len(list(model.modules())) == 1 + 1 + 2 * 4 + 3
    assert len(list(model.buffers())) == 6
    shared = nn.Sequential(model.head, model.head)  # a shared layer is listed once
    assert len(list(shared.parameters())) == 2

    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Block" and seen.count("Conv2d") == 3

    model.head = nn.Identity()  # reassigning replaces the registered layer
    assert "head.weight" not in model.state_dict()
    with pytest.raises(TypeError, match="cannot assign a ndarray to parameter 'weight'"):
        model.up.weight = np.zeros(3)
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'nothing'"):
        model.nothing  # noqa: B018

    class Forgot(nn.Module):
        def __init__(self):
            self.conv = nn.Conv2d(1, 1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Forgot()


def test_sequential_and_module_list_containers():
    seq = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Conv2d(2, 1, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Conv2d) and isinstance(seq[1], nn.ReLU)
    assert list(seq[1:].state_dict()) == ["2.weight", "2.bias"]  # slices keep names
    with pytest.raises(IndexError, match="index 3 is out of range for Sequential of length 3"):
        seq[3]
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.append(nn.Linear(2, 3))
    assert [type(m).__name__ for m in layers] == ["Linear", "Linear"]
    assert layers[1].out_features == 3 and len(layers) == 2
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_zero_grad_and_to_dtype():
    model = small_net(nn)
    model(tu.randn(1, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(not p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())

    weight = model[0].weight
    assert model.double() is model and model[0].weight is weight  # same Parameter objects
    assert weight.dtype == np.float64 and model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # integer buffers stay integer
    assert model(tu.Tensor(np.ones((1, 1, 4, 4)))).dtype == np.float64
    model.to("cpu").to(dtype="float32")
    assert weight.dtype == np.float32  # (model.to("cuda"): tests/test_devices.py)


def test_torch_options_that_were_refused_now_work(torch):
    """groups and ceil_mode used to raise NotImplementedError; the layers now take them
    (their ops are tested against PyTorch in test_conv_groups.py and test_pool.py)."""
    assert nn.Conv2d(4, 4, 3, groups=2).weight.shape == (4, 2, 3, 3)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    y = nn.MaxPool2d(2, ceil_mode=True)(x)
    np.testing.assert_array_equal(y.data, torch.nn.MaxPool2d(2, ceil_mode=True)(
        torch.tensor(x)).numpy())


# ----- initialisation -----------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda nn: nn.Conv2d(16, 32, 3),
    lambda nn: nn.ConvTranspose2d(32, 8, 2, stride=2),  # fan_in = 8 * 2 * 2, from dim 1
    lambda nn: nn.Linear(50, 40),
])
def test_default_init_uses_torch_bounds(torch, make):
    tu.manual_seed(0)
    ours, theirs = make(nn), make(torch.nn)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        fan_in = theirs.weight.shape[1] * math.prod(theirs.weight.shape[2:])
        bound = 1 / math.sqrt(fan_in)
        # torch's own weights respect the bound: that checks the fan_in rule
        assert q.detach().abs().max().item() <= bound
        w = p.data
        assert w.dtype == np.float32 and np.abs(w).max() <= bound, name
        if w.size >= 500:  # U(-b, b): spread over the whole range, std b / sqrt(3)
            assert np.abs(w).max() > 0.95 * bound
            assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
            assert abs(w.mean()) < 0.05 * bound


def test_init_functions_match_torch_formulas(torch):
    for name, param in [("linear", None), ("relu", None), ("tanh", None), ("sigmoid", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                        ("conv_transpose2d", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
    for shape in [(3, 4), (8, 3, 3, 3), (4, 8, 2, 2)]:
        assert nn.init._calculate_fan_in_and_fan_out(np.zeros(shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))

    tu.manual_seed(0)
    w = tu.Tensor(np.zeros((200, 100, 3, 3)))
    fan_in, fan_out = 900, 1800
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.01)
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(6 / fan_out)
    assert w.data.std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.01)
    nn.init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w.data).max() <= 2 * math.sqrt(6 / (fan_in + fan_out))
    nn.init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.01)
    assert nn.init.normal_(w, 3, 0.5).data.mean() == pytest.approx(3, abs=0.01)
    assert nn.init.uniform_(w, -2, -1).data.max() < -1
    assert (nn.init.constant_(w, 0.3).data == 0.3).all()
    assert (nn.init.zeros_(w).data == 0).all() and (nn.init.ones_(w).data == 1).all()
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(np.zeros(4))


@pytest.mark.parametrize("stride, kernel, padding", [(2, 4, 1), (3, 5, 1), (4, 8, 2)])
def test_bilinear_upsampling_init_reproduces_bilinear_interpolation(torch, rng, stride, kernel,
                                                                   padding):
    up = nn.ConvTranspose2d(3, 3, kernel, stride=stride, padding=padding, bias=False,
                            dtype=np.float64)
    nn.init.bilinear_upsampling_(up.weight)
    w = up.weight.data
    assert not w[0, 1].any() and not w[2, 0].any()  # channels do not mix
    x = rng.standard_normal((2, 3, 5, 6))
    expected = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=stride,
                                               mode="bilinear", align_corners=False).numpy()
    y = up(x).data
    assert y.shape == expected.shape
    b = stride // 2  # at the border interpolate clamps, the transposed conv sees zeros
    np.testing.assert_allclose(y[..., b:-b, b:-b], expected[..., b:-b, b:-b], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(C, C, kH, kW\).*\(3, 2, 4, 4\)"):
        nn.init.bilinear_upsampling_(np.zeros((3, 2, 4, 4)))


# ----- dropout and seeding ------------------------------------------------------------------


def test_dropout_scales_survivors_and_backward_uses_the_mask():
    tu.manual_seed(0)
    x = tu.Tensor(np.ones((200, 500), np.float32), requires_grad=True)
    y = dropout(x, p=0.25, training=True)
    kept = y.data != 0
    assert set(np.unique(y.data)) == {0.0, np.float32(1 / 0.75)}
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    assert y.data.mean() == pytest.approx(1.0, abs=0.01)  # E[y] = x
    y.backward(np.full(x.shape, 2, np.float32))
    np.testing.assert_array_equal(x.grad, 2 * y.data)


def test_dropout_eval_identity_and_edge_cases():
    x = tu.randn(3, 4)
    layer = nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(layer(x).data, x.data)
    np.testing.assert_array_equal(dropout(x, 0.0).data, x.data)
    assert not dropout(x, 1.0).data.any()
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_manual_seed_makes_models_and_masks_repeatable():
    def build_and_drop():
        model = small_net(nn)
        return model.state_dict(), model(tu.ones(1, 1, 4, 4)).data

    tu.manual_seed(7)
    state_a, out_a = build_and_drop()
    tu.manual_seed(7)
    state_b, out_b = build_and_drop()
    tu.manual_seed(8)
    state_c, _ = build_and_drop()
    for name in state_a:
        np.testing.assert_array_equal(state_a[name], state_b[name])
    np.testing.assert_array_equal(out_a, out_b)  # dropout drew the same mask
    assert not np.array_equal(state_a["0.weight"], state_c["0.weight"])
