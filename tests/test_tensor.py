"""Every Tensor op, forward and backward, against PyTorch (the oracle) in float64.

Shapes come from hypothesis (broadcasting partners included); values come from a seeded
generator, so there are no accidental ties at max/relu/abs kinks and hypothesis still shrinks
the shape. Each backward is checked as a vector-Jacobian product with a random upstream
gradient g: the gradients of <g, y> must match torch's. At the end, every op also passes a
finite-difference ``tu.gradcheck`` on a small shape, which needs no oracle at all.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyunet as tu
from tinyunet.ops.activation import leaky_relu, silu

TIGHT = dict(rtol=1e-10, atol=1e-12)  # float64: both sides differ by rounding only

seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def sample(shape, domain="real", seed=0):
    """float64 values for an op's input: any real, positive (log, sqrt, pow base) or nonzero
    (a divisor), drawn so that no two values tie."""
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return np.sign(n) * (0.5 + np.abs(n)) + (n == 0)
    return n


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: a drawn shape and a partner with leading dims dropped or
    added and some dims set to 1; either may be the left operand."""
    shape = draw(shapes)
    partner = draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=4, max_side=4))
    return (shape, partner) if draw(st.booleans()) else (partner, shape)


def assert_matches_torch(torch, ours_fn, torch_fn, *arrays, seed=0):
    """Values of ``ours_fn`` and ``torch_fn`` on the same float64 inputs agree, and so do the
    gradients of <g, y> for a random g, input by input."""
    ours = [tu.Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, y_ref = ours_fn(*ours), torch_fn(*theirs)
    assert y.shape == tuple(y_ref.shape)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data, y_ref.detach().numpy(), **TIGHT)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    y.backward(g)
    y_ref.backward(torch.from_numpy(g))
    for i, (t, r) in enumerate(zip(ours, theirs)):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape
        assert t.grad.dtype == np.float64
        np.testing.assert_allclose(t.grad, r.grad.numpy(), **TIGHT, err_msg=f"input {i}")


# --- arithmetic with broadcasting ----------------------------------------------------------

BINARY = {  # name: (op, domain of a, domain of b); the same lambda drives both frameworks
    "add": (lambda a, b: a + b, "real", "real"),
    "sub": (lambda a, b: a - b, "real", "real"),
    "mul": (lambda a, b: a * b, "real", "real"),
    "div": (lambda a, b: a / b, "real", "nonzero"),
    "pow": (lambda a, b: a**b, "positive", "real"),
}


@pytest.mark.parametrize("name", BINARY)
@settings(max_examples=20)
@given(pair=broadcast_pair(), seed=seeds)
def test_binary_op_with_broadcasting(torch, name, pair, seed):
    op, domain_a, domain_b = BINARY[name]
    a = sample(pair[0], domain_a, seed)
    b = sample(pair[1], domain_b, seed + 7)
    assert_matches_torch(torch, op, op, a, b, seed=seed)


SCALAR = {  # a Tensor and a Python number, on either side
    "x + 2.5": (lambda x: x + 2.5, "real"),
    "2.5 + x": (lambda x: 2.5 + x, "real"),
    "x - 1.5": (lambda x: x - 1.5, "real"),
    "1.5 - x": (lambda x: 1.5 - x, "real"),
    "x * -3": (lambda x: x * -3, "real"),
    "-3 * x": (lambda x: -3 * x, "real"),
    "x / 4": (lambda x: x / 4, "real"),
    "4 / x": (lambda x: 4 / x, "nonzero"),
    "x ** 3": (lambda x: x**3, "real"),
    "x ** 2": (lambda x: x**2, "real"),
    "x ** 0.5": (lambda x: x**0.5, "positive"),
    "x ** -1.5": (lambda x: x**-1.5, "positive"),
    "2 ** x": (lambda x: 2.0**x, "real"),
    "-x": (lambda x: -x, "real"),
}


@pytest.mark.parametrize("name", SCALAR)
@settings(max_examples=10)
@given(shape=shapes, seed=seeds)
def test_scalar_op(torch, name, shape, seed):
    op, domain = SCALAR[name]
    assert_matches_torch(torch, op, op, sample(shape, domain, seed), seed=seed)


# --- matrix multiply -----------------------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    """Operand shapes for @: 2-D, batched (batch dims broadcast), or a 1-D vector on one side."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    partner = draw(hnp.broadcastable_shapes(batch, min_dims=0, max_dims=2, max_side=3))
    kind = draw(st.sampled_from(["2d", "batched", "vector @ matrix", "matrix @ vector"]))
    if kind == "2d":
        return (n, k), (k, m)
    if kind == "batched":
        return batch + (n, k), partner + (k, m)
    if kind == "vector @ matrix":
        return (k,), batch + (k, m)
    return batch + (n, k), (k,)


@given(pair=matmul_shapes(), seed=seeds)
def test_matmul(torch, pair, seed):
    a, b = sample(pair[0], seed=seed), sample(pair[1], seed=seed + 1)
    assert_matches_torch(torch, lambda a, b: a @ b, lambda a, b: a @ b, a, b, seed=seed)


def test_matmul_vector_dot_vector(torch):
    """1-D @ 1-D is a dot product: a 0-d result whose gradients are the other vector."""
    a, b = sample((5,), seed=1), sample((5,), seed=2)
    assert_matches_torch(torch, lambda a, b: a @ b, lambda a, b: a @ b, a, b)


# --- comparisons: values only, never a gradient --------------------------------------------

COMPARISONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@pytest.mark.parametrize("name", COMPARISONS)
@settings(max_examples=10)
@given(pair=broadcast_pair(), seed=seeds)
def test_comparison(torch, name, pair, seed):
    op = COMPARISONS[name]
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(-2, 3, s).astype(np.float64) for s in pair)  # small ints: many ties
    x = tu.Tensor(a, requires_grad=True)
    for ours, theirs in [
        (op(x, tu.Tensor(b)), op(torch.tensor(a), torch.tensor(b))),
        (op(x, 0.0), op(torch.tensor(a), 0.0)),
    ]:
        assert ours.dtype == np.bool_
        assert not ours.requires_grad and ours.is_leaf
        np.testing.assert_array_equal(ours.data, theirs.numpy())


# --- indexing ------------------------------------------------------------------------------


def torch_index(torch, index):
    """The same index for torch: arrays and Tensors (masks, integer arrays) become tensors."""
    if isinstance(index, tuple):
        return tuple(torch_index(torch, i) for i in index)
    if isinstance(index, tu.Tensor):
        index = index.data
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


INDICES = {  # name: index into a (4, 5, 3) tensor x (a callable when it depends on x)
    "int": 2,
    "negative int": (-1, 1),
    "slice": slice(1, 3),
    "strided slices": (slice(None, None, 2), slice(1, None, 3)),
    "ellipsis": (Ellipsis, 0),
    "newaxis": (None, slice(0, 2), None),
    "int list with repeats": [0, 0, 3, 1, 3],
    "int array 2-D with repeats": np.array([[0, 2], [2, 2]]),
    "two int arrays": (np.array([0, 1, 1, 3]), np.array([4, 0, 4, 4])),
    "slice then int array": (slice(None), [4, 4, 0]),
    "bool mask over dim 0": np.array([True, False, True, True]),
    "bool mask (Tensor) over all": lambda x: x > 0,
    "bool mask over dims 0, 1": lambda x: (x.sum(2) > 0).data,
}


@pytest.mark.parametrize("name", INDICES)
def test_indexing(torch, name):
    x = sample((4, 5, 3), seed=3)
    index = INDICES[name]
    pick = index if not callable(index) else index(tu.Tensor(x))
    assert_matches_torch(torch, lambda t: t[pick], lambda t: t[torch_index(torch, pick)], x)


@given(data=st.data(), shape=nonscalar_shapes, seed=seeds)
def test_basic_indexing(torch, data, shape, seed):
    index = data.draw(
        hnp.basic_indices(shape, allow_newaxis=True).filter(  # torch has no negative steps
            lambda ix: all(
                i.step is None or i.step > 0
                for i in (ix if isinstance(ix, tuple) else (ix,))
                if isinstance(i, slice)
            )
        )
    )
    x = sample(shape, seed=seed)
    assert_matches_torch(torch, lambda t: t[index], lambda t: t[index], x, seed=seed)


@given(data=st.data(), shape=nonscalar_shapes, seed=seeds)
def test_integer_array_indexing(torch, data, shape, seed):
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_side=6)))
    x = sample(shape, seed=seed)
    assert_matches_torch(
        torch, lambda t: t[index], lambda t: t[torch_index(torch, index)], x, seed=seed
    )


# --- shape ops -----------------------------------------------------------------------------


@given(data=st.data(), shape=nonscalar_shapes, seed=seeds)
def test_reshape_and_view(torch, data, shape, seed):
    x = sample(shape, seed=seed)
    keep = data.draw(st.integers(0, len(shape)))  # leading dims kept, the rest inferred by -1
    new = shape[:keep] + (-1,)
    assert_matches_torch(torch, lambda t: t.reshape(*new), lambda t: t.reshape(*new), x)
    assert_matches_torch(torch, lambda t: t.view(-1), lambda t: t.view(-1), x)
    assert_matches_torch(torch, lambda t: t.reshape(new), lambda t: t.reshape(new), x)


def test_reshape_to_wrong_size_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, -1\)"):
        tu.Tensor(np.zeros((2, 3))).reshape(4, -1)


@given(data=st.data(), shape=nonscalar_shapes, seed=seeds)
def test_transpose_and_permute(torch, data, shape, seed):
    x = sample(shape, seed=seed)
    n = len(shape)
    d0, d1 = data.draw(st.integers(-n, n - 1)), data.draw(st.integers(-n, n - 1))
    perm = data.draw(st.permutations(range(n)))
    assert_matches_torch(torch, lambda t: t.transpose(d0, d1), lambda t: t.transpose(d0, d1), x)
    assert_matches_torch(torch, lambda t: t.permute(*perm), lambda t: t.permute(*perm), x)
    assert_matches_torch(torch, lambda t: t.T, lambda t: t.permute(*reversed(range(n))), x)


@given(data=st.data(), shape=nonscalar_shapes, seed=seeds)
def test_flatten_unsqueeze_squeeze(torch, data, shape, seed):
    x = sample(shape, seed=seed)
    n = len(shape)
    start = data.draw(st.integers(-n, n - 1))
    end = data.draw(st.integers(start % n, n - 1))
    new_axis = data.draw(st.integers(-n - 1, n))
    axis = data.draw(st.integers(-n, n - 1))
    cases = [
        (lambda t: t.flatten(), lambda t: t.flatten()),
        (lambda t: t.flatten(start, end), lambda t: t.flatten(start, end)),
        (lambda t: t.unsqueeze(new_axis), lambda t: t.unsqueeze(new_axis)),
        (lambda t: t.squeeze(), lambda t: t.squeeze()),
        (lambda t: t.squeeze(axis), lambda t: t.squeeze(axis)),
    ]
    for ours, theirs in cases:
        assert_matches_torch(torch, ours, theirs, x, seed=seed)


# --- reductions ----------------------------------------------------------------------------


@st.composite
def reduction_dims(draw, ndim):
    """PyTorch's ``dim``: None, an int or a tuple of distinct axes, negatives allowed."""
    axis = st.integers(-ndim, ndim - 1)
    return draw(
        st.one_of(
            st.none(),
            axis,
            st.lists(axis, min_size=1, max_size=ndim, unique_by=lambda d: d % ndim).map(tuple),
        )
    )


REDUCTIONS = ["sum", "mean", "amax"]


@pytest.mark.parametrize("name", REDUCTIONS)
@given(data=st.data(), shape=nonscalar_shapes, keepdim=st.booleans(), seed=seeds)
def test_reduction(torch, name, data, shape, keepdim, seed):
    dim = data.draw(reduction_dims(len(shape)))
    dim_torch = tuple(range(len(shape))) if dim is None else dim
    assert_matches_torch(
        torch,
        lambda t: getattr(t, name)(dim, keepdim),
        lambda t: getattr(t, name)(dim_torch, keepdim),
        sample(shape, seed=seed),
        seed=seed,
    )


@given(data=st.data(), shape=nonscalar_shapes, keepdim=st.booleans(), seed=seeds)
def test_max_over_dim_returns_values_and_indices(torch, data, shape, keepdim, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = sample(shape, seed=seed)
    values, indices = tu.Tensor(x).max(dim, keepdim)
    expected = torch.tensor(x).max(dim, keepdim)
    np.testing.assert_array_equal(values.data, expected.values.numpy())
    np.testing.assert_array_equal(indices.data, expected.indices.numpy())
    assert tu.Tensor(x).max(dim, keepdim).indices.shape == tuple(expected.indices.shape)
    assert_matches_torch(
        torch, lambda t: t.max(dim, keepdim).values, lambda t: t.max(dim, keepdim).values, x
    )


@given(shape=nonscalar_shapes, seed=seeds)
def test_max_of_all_elements(torch, shape, seed):
    assert_matches_torch(torch, lambda t: t.max(), lambda t: t.max(), sample(shape, seed=seed))


def test_max_and_amax_share_the_gradient_among_ties(torch):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [5.0, 5.0, 5.0]])
    assert_matches_torch(torch, lambda t: t.amax(1), lambda t: t.amax(1), x)
    assert_matches_torch(torch, lambda t: t.amax((0, 1)), lambda t: t.amax((0, 1)), x)
    assert_matches_torch(torch, lambda t: t.max(), lambda t: t.max(), x)


# --- elementwise functions and activations -------------------------------------------------

UNARY = {  # name: (tinyunet op, torch op given the torch module, input domain)
    "exp": (lambda x: x.exp(), lambda th, x: x.exp(), "real"),
    "log": (lambda x: x.log(), lambda th, x: x.log(), "positive"),
    "sqrt": (lambda x: x.sqrt(), lambda th, x: x.sqrt(), "positive"),
    "abs": (lambda x: x.abs(), lambda th, x: x.abs(), "real"),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda th, x: x.clip(-0.5, 0.7), "real"),
    "clip min": (lambda x: x.clip(min=0.1), lambda th, x: x.clip(min=0.1), "real"),
    "clamp max": (lambda x: x.clamp(max=0.2), lambda th, x: x.clamp(max=0.2), "real"),
    "relu": (lambda x: x.relu(), lambda th, x: x.relu(), "real"),
    "sigmoid": (lambda x: x.sigmoid(), lambda th, x: x.sigmoid(), "real"),
    "tanh": (lambda x: x.tanh(), lambda th, x: x.tanh(), "real"),
    "silu": (silu, lambda th, x: th.nn.functional.silu(x), "real"),
    "leaky_relu": (leaky_relu, lambda th, x: th.nn.functional.leaky_relu(x), "real"),
    "leaky_relu 0.2": (
        lambda x: leaky_relu(x, negative_slope=0.2),
        lambda th, x: th.nn.functional.leaky_relu(x, negative_slope=0.2),
        "real",
    ),
}


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=10)
@given(shape=shapes, seed=seeds)
def test_unary_op(torch, name, shape, seed):
    ours, theirs, domain = UNARY[name]
    x = 3 * sample(shape, domain, seed) if domain == "real" else sample(shape, domain, seed)
    assert_matches_torch(torch, ours, lambda t: theirs(torch, t), x, seed=seed)


def test_sigmoid_and_silu_saturate_without_overflow(torch):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is benign
        assert_matches_torch(torch, lambda t: t.sigmoid(), lambda t: t.sigmoid(), x)
        assert_matches_torch(torch, silu, torch.nn.functional.silu, x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data(), shape=nonscalar_shapes, seed=seeds)
def test_softmax_family(torch, name, data, shape, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert_matches_torch(
        torch,
        lambda t: getattr(t, name)(dim),
        lambda t: getattr(t, name)(dim),
        sample(shape, seed=seed),
        seed=seed,
    )


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_is_stable_for_large_logits(torch, name):
    """Logits ~1000 overflow a naive e^x; subtracting the max first keeps every value finite."""
    x = 1000 * sample((3, 5), seed=4)
    x[0] = [1000.0, 1000.0, -1000.0, 999.0, 0.0]
    with np.errstate(over="raise", invalid="raise"):
        y = getattr(tu.Tensor(x), name)(1).data
    assert np.isfinite(y).all()
    assert_matches_torch(torch, lambda t: getattr(t, name)(1), lambda t: getattr(t, name)(1), x)
    assert_matches_torch(torch, lambda t: getattr(t, name)(0), lambda t: getattr(t, name)(0), x)


# --- dtypes --------------------------------------------------------------------------------


def test_default_dtype_is_float32_and_float64_is_kept():
    assert tu.Tensor([1.0, 2.0]).dtype == np.float32
    assert tu.Tensor([[1, 2]], requires_grad=False).dtype == np.int64  # as torch.tensor
    assert tu.Tensor(np.zeros(3)).dtype == np.float64
    assert tu.Tensor(np.zeros(3, np.float32)).dtype == np.float32
    assert tu.Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_python_scalars_keep_the_tensor_dtype():
    for dtype in (np.float32, np.float64):
        x = tu.Tensor(np.ones((2, 2), dtype), requires_grad=True)
        results = [x + 1, 1 + x, x - 0.5, 0.5 - x, x * 2.5, 2.5 * x, x / 3, 3 / x, x**2, 2**x]
        assert all(r.dtype == dtype for r in results), [r.dtype for r in results]
        sum(r.sum() for r in results).backward()
        assert x.grad.dtype == dtype


def test_grad_keeps_the_leaf_dtype_when_mixed_with_float64():
    w = tu.Tensor(np.ones(3, np.float32), requires_grad=True)
    (w * tu.Tensor(np.arange(3.0))).sum().backward()  # float64 product
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [0.0, 1.0, 2.0])


def test_int_tensor_times_python_float_promotes_as_torch(torch):
    """int64 tensor * 2.5 is a float tensor (torch: float32 [2.5, 5.0]); the 2.5 must not be
    truncated to the int 2."""
    ours, theirs = tu.Tensor([1, 2]) * 2.5, torch.tensor([1, 2]) * 2.5
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert ours.dtype.kind == "f"


# --- finite differences: every op, no oracle needed ----------------------------------------

GRADCHECK = {  # name: (fn of the inputs, [(shape, domain) per input])
    "add": (lambda a, b: a + b, [((2, 3), "real"), ((3,), "real")]),
    "sub": (lambda a, b: a - b, [((2, 1), "real"), ((2, 3), "real")]),
    "mul": (lambda a, b: a * b, [((2, 3), "real"), ((1, 3), "real")]),
    "div": (lambda a, b: a / b, [((2, 3), "real"), ((2, 3), "nonzero")]),
    "pow tensor": (lambda a, b: a**b, [((2, 3), "positive"), ((3,), "real")]),
    "pow scalar": (lambda a: a**3, [((2, 3), "real")]),
    "rpow": (lambda a: 2.0**a, [((2, 3), "real")]),
    "neg": (lambda a: -a, [((4,), "real")]),
    "matmul": (lambda a, b: a @ b, [((2, 3), "real"), ((3, 4), "real")]),
    "matmul batched": (lambda a, b: a @ b, [((2, 1, 2, 3), "real"), ((3, 3, 2), "real")]),
    "matmul vector": (lambda a, b: a @ b, [((3,), "real"), ((2, 3, 2), "real")]),
    "getitem": (lambda x: x[[0, 0, 1], 1:], [((2, 4), "real")]),
    "getitem mask": (lambda x: x[x > 0], [((3, 4), "real")]),
    "reshape": (lambda x: x.reshape(3, -1), [((2, 3, 2), "real")]),
    "transpose": (lambda x: x.transpose(0, -1), [((2, 3, 2), "real")]),
    "permute": (lambda x: x.permute(2, 0, 1), [((2, 3, 2), "real")]),
    "squeeze": (lambda x: x.unsqueeze(1).squeeze(), [((2, 1, 3), "real")]),
    "sum": (lambda x: x.sum((0, -1), keepdim=True), [((2, 3, 2), "real")]),
    "mean": (lambda x: x.mean(1), [((2, 3, 2), "real")]),
    "max dim": (lambda x: x.max(1).values, [((3, 4), "real")]),
    "amax": (lambda x: x.amax((0, 1)), [((3, 4), "real")]),
    "exp": (lambda x: x.exp(), [((2, 3), "real")]),
    "log": (lambda x: x.log(), [((2, 3), "positive")]),
    "sqrt": (lambda x: x.sqrt(), [((2, 3), "positive")]),
    "abs": (lambda x: x.abs(), [((2, 3), "real")]),
    "clip": (lambda x: x.clip(-0.5, 0.5), [((3, 4), "real")]),
    "relu": (lambda x: x.relu(), [((2, 3), "real")]),
    "sigmoid": (lambda x: x.sigmoid(), [((2, 3), "real")]),
    "tanh": (lambda x: x.tanh(), [((2, 3), "real")]),
    "softmax": (lambda x: x.softmax(1), [((2, 4), "real")]),
    "log_softmax": (lambda x: x.log_softmax(0), [((3, 2), "real")]),
    "silu": (silu, [((2, 3), "real")]),
    "leaky_relu": (lambda x: leaky_relu(x, 0.1), [((2, 3), "real")]),
}


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck(name):
    fn, specs = GRADCHECK[name]
    inputs = tuple(
        tu.Tensor(sample(shape, domain, seed), requires_grad=True)
        for seed, (shape, domain) in enumerate(specs)
    )
    assert tu.gradcheck(fn, inputs)
