"""The engine: accumulation, freed graphs, grad mode, deep and diamond graphs, custom Functions,
and the errors a learner meets first (named shapes, not stack traces into NumPy)."""

import numpy as np
import pytest

import tinyunet as tu


def leaf(values):
    return tu.Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def as_numpy(grad):
    """A gradient from either framework as an ndarray."""
    return grad if isinstance(grad, np.ndarray) else grad.numpy()


# --- accumulation and freed graphs, exactly as PyTorch -------------------------------------


def test_gradients_accumulate_across_backward_calls(torch):
    """Two backward calls on two different graphs add into .grad (zero_grad between steps)."""
    values = [0.5, -1.0, 2.0]
    x, x_ref = leaf(values), torch.tensor(values, dtype=torch.float64, requires_grad=True)
    for t in (x, x_ref):
        (t * 3).sum().backward()
        (t * t).sum().backward()
    np.testing.assert_allclose(x.grad, x_ref.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(x.grad, 3 + 2 * np.array(values), rtol=1e-15)
    x.zero_grad()
    assert x.grad is None


def test_second_backward_through_a_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).exp().sum()
    y.backward()
    first = x.grad.copy()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    np.testing.assert_array_equal(x.grad, first)  # nothing was added by the failed call


def test_retain_graph_allows_a_second_backward_and_doubles_the_grad(torch):
    values = [1.0, -2.0, 0.25]
    x, x_ref = leaf(values), torch.tensor(values, dtype=torch.float64, requires_grad=True)
    for t in (x, x_ref):
        y = (t * t.sigmoid()).sum()
        y.backward(retain_graph=True)
        once = as_numpy(t.grad).copy()
        y.backward()
        np.testing.assert_array_equal(as_numpy(t.grad), 2 * once)
    np.testing.assert_allclose(x.grad, x_ref.grad.numpy(), rtol=1e-14)


def test_intermediate_tensors_keep_no_grad():
    x = leaf([1.0, 2.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None and not h.is_leaf
    np.testing.assert_array_equal(x.grad, 8 * x.data)


# --- grad mode -----------------------------------------------------------------------------


def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with tu.no_grad():
        assert not tu.is_grad_enabled()
        y = (x * 2).exp().sum()
    assert tu.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_decorator_records_nothing_and_restores_mode():
    @tu.no_grad()
    def infer(t):
        assert not tu.is_grad_enabled()
        return t * t

    x = leaf([3.0])
    y = infer(x)
    assert not y.requires_grad and y.is_leaf
    assert infer.__name__ == "infer"
    assert tu.is_grad_enabled() and (x * x).requires_grad


def test_grad_mode_is_restored_after_an_exception_and_nests():
    with pytest.raises(ValueError), tu.no_grad():
        raise ValueError("an error inside no_grad")
    assert tu.is_grad_enabled()
    with tu.no_grad():
        with tu.enable_grad():
            assert (leaf([1.0]) * 2).requires_grad
        assert not tu.is_grad_enabled()


# --- graph shapes --------------------------------------------------------------------------


def test_a_graph_20000_ops_deep_backprops_without_recursion():
    x = leaf([1.0, 2.0])
    y, c = x, 1.00001
    for _ in range(20_000):
        y = y * c
    y.sum().backward()  # the default recursion limit is ~1000: only an explicit stack gets here
    np.testing.assert_allclose(x.grad, np.full(2, c**20_000), rtol=1e-11)


def test_diamond_graph_sums_both_paths(torch):
    """x feeds two branches that meet again: dL/dx is the sum of the two paths' gradients."""
    values = [0.3, -1.2, 2.0]
    x, x_ref = leaf(values), torch.tensor(values, dtype=torch.float64, requires_grad=True)
    for t in (x, x_ref):
        a, b = t * 2, t.exp()
        ((a * b) + a.tanh() * t).sum().backward()
    np.testing.assert_allclose(x.grad, x_ref.grad.numpy(), rtol=1e-14)
    v = np.array(values)  # d/dx [2x e^x + x tanh 2x]
    expected = 2 * np.exp(v) * (1 + v) + np.tanh(2 * v) + 2 * v * (1 - np.tanh(2 * v) ** 2)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-14)


def test_broadcast_leaf_gets_a_gradient_of_its_own_shape(torch):
    b = tu.Tensor(np.zeros((3, 1)), requires_grad=True)
    x = np.arange(24.0).reshape(2, 3, 4)
    (tu.Tensor(x) * b).sum().backward()
    assert b.grad.shape == (3, 1)
    np.testing.assert_array_equal(b.grad, x.sum(axis=(0, 2))[:, None])


# --- errors that name what went wrong ------------------------------------------------------


def test_backward_on_a_non_scalar_without_grad_names_the_shape():
    y = leaf(np.ones((2, 3))) * 2
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()


def test_backward_with_a_wrong_shaped_grad_names_both_shapes():
    y = leaf(np.ones((2, 3))) * 2
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_requires_grad_on_an_integer_tensor_raises():
    with pytest.raises(TypeError, match="int64"):
        tu.Tensor([1, 2, 3], requires_grad=True)


def test_matmul_with_mismatched_shapes_names_both_shapes():
    a, b = tu.Tensor(np.ones((2, 3))), tu.Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2,\)"):
        a @ tu.Tensor(np.ones(2))


# --- writing your own Function -------------------------------------------------------------


class ScaledProduct(tu.Function):
    """y = scale * a * b, with ``scale`` a keyword hyper-parameter (never differentiated)."""

    calls = []  # what each backward saw, for the test to inspect

    @staticmethod
    def forward(ctx, a, b, scale=1.0):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return scale * a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ScaledProduct.calls.append(ctx.needs_input_grad)
        grad_a = grad * ctx.scale * b if ctx.needs_input_grad[0] else None
        grad_b = grad * ctx.scale * a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


def test_custom_function_saves_for_backward_and_respects_needs_input_grad():
    ScaledProduct.calls.clear()
    a, b = leaf([1.0, 2.0]), tu.Tensor(np.array([3.0, -4.0]))  # b needs no gradient
    y = ScaledProduct.apply(a, b, scale=0.5)
    np.testing.assert_array_equal(y.data, [1.5, -4.0])
    assert y._node.ctx.needs_input_grad == (True, False)
    y.sum().backward()
    assert ScaledProduct.calls == [(True, False)]
    np.testing.assert_array_equal(a.grad, [1.5, -2.0])
    assert b.grad is None


def test_custom_function_keyword_hyper_parameters_are_not_inputs():
    """Positional arguments are the inputs; a keyword argument reaches forward verbatim (even an
    array) and never gets a gradient slot."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    scale = np.array([10.0, 100.0])
    y = ScaledProduct.apply(a, b, scale=scale)
    assert len(y._node.inputs) == 2
    assert y._node.ctx.scale is scale
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, scale * b.data)
    np.testing.assert_array_equal(b.grad, scale * a.data)


def test_custom_function_accepts_arrays_and_numbers_as_inputs():
    a = leaf([1.0, 2.0])
    y = ScaledProduct.apply(np.array([5.0, 6.0]), a)
    z = ScaledProduct.apply(a, 2.0)
    assert isinstance(y, tu.Tensor) and y.requires_grad and z.dtype == np.float64
    (y + z).sum().backward()
    np.testing.assert_array_equal(a.grad, [7.0, 8.0])


def test_custom_function_returning_the_wrong_number_of_grads_raises():
    class Broken(tu.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return (grad,)

    y = Broken.apply(leaf([1.0]), leaf([2.0]))
    with pytest.raises(RuntimeError, match="1 gradients for 2 inputs"):
        y.sum().backward()


# --- interop and randomness ----------------------------------------------------------------


@pytest.mark.parametrize(
    "op, grad_x",  # grad_x: d(sum of op(arr, x))/dx, by hand
    [
        (lambda arr, t: arr + t, lambda arr, x: np.full(3, 2.0)),
        (lambda arr, t: arr - t, lambda arr, x: np.full(3, -2.0)),
        (lambda arr, t: arr * t, lambda arr, x: arr.sum(axis=0)),
        (lambda arr, t: arr / t, lambda arr, x: (-arr / x**2).sum(axis=0)),
        (lambda arr, t: arr @ t, lambda arr, x: arr.sum(axis=0)),
    ],
    ids=["+", "-", "*", "/", "@"],
)
def test_ndarray_on_the_left_gives_a_tensor(op, grad_x):
    arr = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = leaf([0.5, -1.0, 2.0])
    y = op(arr, x)
    assert isinstance(y, tu.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad, grad_x(arr, x.data), rtol=1e-15)


def test_manual_seed_makes_randn_repeatable():
    tu.manual_seed(1234)
    first = tu.randn(3, 4).data
    again = tu.randn(3, 4).data
    tu.manual_seed(1234)
    replay = tu.randn(3, 4).data
    np.testing.assert_array_equal(first, replay)
    assert not np.array_equal(first, again)
    assert first.dtype == np.float32 and first.shape == (3, 4)
    tu.manual_seed(1235)
    assert not np.array_equal(tu.randn(3, 4).data, first)


def test_truth_value_and_conversions_of_one_element_tensors():
    assert bool(tu.Tensor([0.0]) < 1) is True
    assert bool(tu.Tensor([2.0]) < 1) is False
    assert float(tu.Tensor(np.float64(2.5))) == 2.5 and int(tu.Tensor([3.0])) == 3
    with pytest.raises(RuntimeError, match="truth value of a tensor with 3 elements"):
        bool(tu.Tensor([1.0, 2.0, 3.0]) > 0)


def test_requires_grad_underscore_on_an_integer_tensor_raises():
    with pytest.raises(TypeError, match="only floating-point tensors"):
        tu.Tensor(np.arange(3)).requires_grad_()


def test_a_zero_dim_leaf_gets_an_array_gradient():
    s = tu.Tensor(np.float64(2.0), requires_grad=True)
    (s * tu.Tensor(np.ones((3, 4)))).sum().backward()
    assert isinstance(s.grad, np.ndarray) and s.grad.shape == () and s.grad == 12.0


def test_the_engine_holds_no_gradient_that_a_backward_is_done_with():
    """A backward receives its output's gradient as the only reference: once it lets go of
    it, it is freed, before the backward allocates the gradients it returns (peak memory)."""
    import weakref

    from tinyunet.function import Function

    freed = []

    class Twice(Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad):
            seen = weakref.ref(grad)
            out = 2 * grad
            del grad
            freed.append(seen() is None)
            return out

    x = tu.Tensor(np.ones(4), requires_grad=True)
    Twice.apply(Twice.apply(Twice.apply(x))).sum().backward()
    assert freed == [True, True, True]
    np.testing.assert_array_equal(x.grad, np.full(4, 8.0))
