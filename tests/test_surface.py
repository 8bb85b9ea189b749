"""The PyTorch surface as a contract: every exported function and layer takes PyTorch's
arguments, by the same names, in the same order, with the same defaults; the layers' new
options agree with PyTorch's layers; Tensor holds numbers only and has the methods the U-Net
code (and code ported from PyTorch) calls."""

import ast
import inspect
import re

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.functional as F
import tinyunet.nn as nn

# torch's own name for the function where ``torch.nn.functional.<name>`` is not inspectable
TORCH_FUNCTION = {"max_pool2d": "max_pool2d_with_indices",
                  "max_pool3d": "max_pool3d_with_indices"}
TORCH_MODULE_ONLY = {"cat", "stack"}  # torch.cat / torch.stack


def _torch_parameters(torch, name):
    """[(name, default or inspect.Parameter.empty)] of PyTorch's function, read from its
    signature, or from the first line of its docstring for the C++ builtins."""
    fn = getattr(torch, name) if name in TORCH_MODULE_ONLY else getattr(
        torch.nn.functional, TORCH_FUNCTION.get(name, name))
    try:
        params = inspect.signature(fn).parameters.values()
        return [(p.name, p.default) for p in params
                if p.kind != p.KEYWORD_ONLY and not p.name.startswith("_")]
    except ValueError:  # a builtin: "conv2d(input, weight, bias=None, ...) -> Tensor"
        text = re.match(r"\s*\w+\((.*?)\)\s*->", fn.__doc__, re.S).group(1)
        parsed = ast.parse(f"def f({text.replace(chr(10), ' ')}): pass").body[0].args
        defaults = [ast.literal_eval(d) for d in parsed.defaults]
        names = [a.arg for a in parsed.args]
        padded = [inspect.Parameter.empty] * (len(names) - len(defaults)) + defaults
        return list(zip(names, padded))


def _ours(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
            if p.kind != p.KEYWORD_ONLY and not p.name.startswith("_")]


TORCH_FUNCTIONS = sorted(set(F.__all__) - {"center_crop", "conv2d_output_size",
                                           "conv_transpose2d_output_size", "conv3d_output_size",
                                           "conv_transpose3d_output_size", "dice_loss",
                                           "dice_ce_loss"})


@pytest.mark.parametrize("name", TORCH_FUNCTIONS)
def test_every_function_takes_torchs_arguments(torch, name):
    """Names, order and defaults: a call written for torch.nn.functional means the same."""
    theirs = [(n, d) for n, d in _torch_parameters(torch, name) if n != "out"]
    ours = _ours(getattr(F, name))
    assert [n for n, _ in ours[:len(theirs)]] == [n for n, _ in theirs], name
    for (n, mine), (_, default) in zip(ours, theirs):
        if default is not inspect.Parameter.empty:
            assert mine == default, f"{name}: {n} defaults to {mine!r}, torch to {default!r}"


OWN_LAYERS = {"CrossAttention2d", "SelfAttention2d", "DiceLoss", "DiceCELoss", "SubPixelUpsample",
              "SinusoidalTimeEmbedding", "TimestepMLP"}  # tinyunet's own: no torch.nn twin
LAYERS = sorted(n for n in nn.__all__ if isinstance(getattr(nn, n), type) and n not in OWN_LAYERS
                and n not in ("Module", "Parameter", "Sequential", "ModuleList", "Identity"))


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_takes_torchs_constructor_arguments(torch, name):
    assert hasattr(torch.nn, name), f"{name} has no torch.nn twin: list it in OWN_LAYERS"
    theirs = [(p.name, p.default) for p in
              inspect.signature(getattr(torch.nn, name).__init__).parameters.values()
              if p.name != "self" and not p.name.startswith("_")
              and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    ours = [(p.name, p.default) for p in
            inspect.signature(getattr(nn, name).__init__).parameters.values()
            if p.name != "self" and not p.name.startswith("_")]
    assert [n for n, _ in ours[:len(theirs)]] == [n for n, _ in theirs], name
    for (n, mine), (_, default) in zip(ours, theirs):
        assert mine == default, f"{name}: {n} defaults to {mine!r}, torch to {default!r}"


# ----- the layers' options, against torch's layers ------------------------------------------


@pytest.mark.parametrize("make, shape", [
    (lambda nn: nn.MaxPool2d(3, 2, 1, 2, False, True), (2, 3, 8, 7)),
    (lambda nn: nn.AvgPool2d(3, 2, 1, True, False, None), (2, 3, 8, 7)),
    (lambda nn: nn.AvgPool2d(2, ceil_mode=True, divisor_override=3), (2, 3, 5, 7)),
    (lambda nn: nn.AdaptiveAvgPool2d((3, None)), (2, 3, 8, 7)),
    (lambda nn: nn.Upsample(scale_factor=1.5, mode="nearest-exact"), (2, 3, 5, 4)),
    (lambda nn: nn.Upsample(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
     (2, 3, 5, 4)),
    (lambda nn: nn.Upsample(size=(3, 2), mode="area"), (2, 3, 7, 5)),
    (lambda nn: nn.Conv2d(4, 6, 3, padding="same", groups=2, padding_mode="circular"),
     (2, 4, 5, 6)),
    (lambda nn: nn.ConvTranspose2d(4, 6, 3, 2, 1, 1, groups=2, dilation=1), (2, 4, 3, 3)),
    (lambda nn: nn.GroupNorm(2, 4, affine=False), (2, 4, 3, 3)),
    (lambda nn: nn.BatchNorm2d(3, momentum=None), (4, 3, 2, 2)),
    (lambda nn: nn.BatchNorm2d(3, affine=False, track_running_stats=False), (4, 3, 2, 2)),
])
def test_layer_options_match_torch(torch, make, shape):
    tu.manual_seed(0)
    ours, theirs = make(nn).double(), make(torch.nn).double()
    theirs.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in
                            ours.state_dict().items()})
    rng = np.random.default_rng(0)
    for _ in range(2):  # twice: BatchNorm's cumulative average (momentum=None) moves
        x = rng.standard_normal(shape)
        X, t = tu.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = ours(X), theirs(t)
        y, ty = (y[0], ty[0]) if isinstance(ty, tuple) else (y, ty)  # (values, indices)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(X.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours.state_dict()[key]), value.numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_embedding_layer_options_match_torch(torch):
    w = np.random.default_rng(0).standard_normal((10, 4))
    kw = dict(padding_idx=1, max_norm=1.2, scale_grad_by_freq=True)
    ours = nn.Embedding(10, 4, _weight=w.copy(), **kw)
    theirs = torch.nn.Embedding(10, 4, _weight=torch.tensor(w.copy()), **kw)
    idx = np.array([[1, 3, 3], [7, 3, 0]])
    y, ty = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    frozen = nn.Embedding(10, 4, _weight=w, _freeze=True)
    assert not frozen.weight.requires_grad
    with pytest.raises(NotImplementedError, match="sparse=True"):
        nn.Embedding(10, 4, sparse=True)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((5,), None), ((3, 4), None), ((2, 3, 4), None),
                                        ((2, 3, 4, 5), None), ((), 0), ((5, 0, 2), -1),
                                        ((3, 4), -1)])
@pytest.mark.parametrize("dtype", [None, np.float64])
def test_softmax_dim_dtype_and_edge_shapes_match_torch(torch, name, shape, dim, dtype):
    """dim=None is torch's legacy choice (0 for 0-, 1- and 3-D inputs, else 1); ``dtype``
    casts the input first; a 0-d input is one-element softmax; an empty input stays empty."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    X, t = tu.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kw = {} if dtype is None else {"dtype": dtype}
    with pytest.warns(UserWarning, match="implicit") if dim is None else _no_warning():
        y = getattr(F, name)(X, dim, **kw)
    with pytest.warns(UserWarning) if dim is None else _no_warning():
        ty = getattr(torch.nn.functional, name)(t, dim, dtype=None if dtype is None
                                                else torch.float64)
    assert y.dtype == np.dtype(str(ty.dtype).removeprefix("torch."))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g.astype(y.dtype))
    ty.backward(torch.tensor(g, dtype=ty.dtype))
    np.testing.assert_allclose(X.grad, t.grad.numpy(), rtol=1e-5, atol=1e-6)


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


# ----- Tensor -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [["a", "b"], np.array(["x"]), np.array([1, 2], dtype=object),
                                  np.array([{}], dtype=object), [1 + 2j]])
def test_a_tensor_holds_numbers_only(torch, data):
    """Strings and objects are refused as torch refuses them (it has no string or object
    tensors); complex numbers too, which tinyunet has no ops for."""
    with pytest.raises(TypeError, match="must be numeric"):
        tu.Tensor(data)
    if isinstance(data, np.ndarray) and data.dtype == object:
        with pytest.raises(TypeError):
            torch.tensor(data)


def test_numeric_data_keeps_its_kind():
    assert tu.Tensor([True, False]).dtype == np.bool_
    assert tu.Tensor(np.arange(3, dtype=np.uint8)).dtype == np.uint8
    assert tu.Tensor([1, 2]).dtype == np.int64
    assert tu.Tensor([1.5]).dtype == np.float32          # the teaching default
    assert tu.Tensor(np.ones(2)).dtype == np.float64     # an array keeps its dtype
    with pytest.raises(ValueError, match="rectangular"):
        tu.Tensor([[1, 2], [3]])


def test_tensor_methods_ported_code_calls(torch):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    X, t = tu.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    assert X.dim() == t.dim() == 3 and X.contiguous() is X
    pairs = [
        (X.sum(dim=1, dtype=np.float64), t.sum(dim=1, dtype=torch.float64)),
        (X.mean((0, 2), keepdim=True, dtype=np.float64), t.mean((0, 2), True,
                                                             dtype=torch.float64)),
        (X.softmax(1, dtype=np.float64), t.softmax(1, dtype=torch.float64)),
        (X.log_softmax(-1), t.log_softmax(-1)),
        (X.clone() * 2, t.clone() * 2),
    ]
    total, ttotal = 0, 0
    for ours, theirs in pairs:
        assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch."))
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
        total, ttotal = total + ours.sum(), ttotal + theirs.sum()
    total.backward()
    ttotal.backward()
    np.testing.assert_allclose(X.grad, t.grad.numpy(), rtol=1e-5, atol=1e-5)
    clone = X.clone()
    clone.data[...] = 0  # a copy: the original keeps its values
    assert X.data.any()


# ----- empty batches ------------------------------------------------------------------------

EMPTY_BATCH = [  # (call, input shape): the batch dim is 0, everything else is ordinary
    (lambda F, x: F.conv2d(x, np.ones((4, 1, 3, 3)), groups=2, padding=1), (0, 2, 5, 5)),
    (lambda F, x: F.conv_transpose2d(x, np.ones((2, 2, 2, 2)), stride=2), (0, 2, 3, 3)),
    (lambda F, x: F.max_pool2d(x, 2, ceil_mode=True), (0, 2, 5, 5)),
    (lambda F, x: F.avg_pool2d(x, 3, 2, 1), (0, 2, 5, 5)),
    (lambda F, x: F.adaptive_avg_pool2d(x, 2), (0, 2, 5, 5)),
    (lambda F, x: F.interpolate(x, scale_factor=2), (0, 2, 3, 3)),
    (lambda F, x: F.interpolate(x, size=(4, 5), mode="bicubic"), (0, 2, 3, 3)),
    (lambda F, x: F.interpolate(x, size=5, mode="linear", align_corners=True), (0, 2, 3)),
    (lambda F, x: F.interpolate(x, scale_factor=0.5, mode="area"), (0, 2, 4, 4, 4)),
    (lambda F, x: F.pad(x, (1, 2, 0, 1), mode="reflect"), (0, 2, 3, 3)),
    (lambda F, x: F.pad(x, (1, 2), mode="circular"), (0, 2, 3)),
    (lambda F, x: F.pixel_shuffle(x, 2), (0, 8, 2, 2)),
    (lambda F, x: F.group_norm(x, 2), (0, 4, 3, 3)),
    (lambda F, x: F.batch_norm(x, None, None, training=True), (0, 3, 2, 2)),
    (lambda F, x: F.softmax(x, 1), (0, 3, 2)),
    (lambda F, x: F.linear(x, np.ones((4, 3))), (0, 3)),
    (lambda F, x: F.relu(x) + F.silu(x) + F.leaky_relu(x, 0.2), (0, 3)),
    (lambda F, x: F.cross_entropy(x, np.zeros((0, 2), np.int64), reduction="sum"), (0, 3, 2)),
    (lambda F, x: F.mse_loss(x, np.zeros((0, 3)), reduction="sum"), (0, 3)),
]


@pytest.mark.parametrize("call, shape", EMPTY_BATCH)
def test_an_empty_batch_goes_through_like_in_torch(torch, call, shape):
    def torch_call(x):  # the same call with torch's F and tensors
        class Lifted:
            def __getattr__(self, name):
                fn = getattr(torch.nn.functional, name)
                return lambda *a, **k: fn(*(torch.tensor(v) if isinstance(v, np.ndarray)
                                            else v for v in a), **k)
        return call(Lifted(), x)

    x = tu.Tensor(np.zeros(shape), requires_grad=True)
    t = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    y, ty = call(F, x), torch_call(t)
    assert y.shape == tuple(ty.shape)
    y.sum().backward()
    assert x.grad.shape == shape

