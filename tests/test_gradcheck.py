"""gradcheck must pass correct backwards, catch wrong ones, and say where they are wrong."""

import importlib
import re

import numpy as np
import pytest

import tinyunet as tu

# the module, not the function tinyunet re-exports under the same name
gradcheck_module = importlib.import_module("tinyunet.gradcheck")


def leaf(shape, seed=0, dtype=np.float64):
    return tu.Tensor(
        np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True
    )


class SquareForgetsTheTwo(tu.Function):
    """y = x^2 with the classic bug: dy/dx written as x instead of 2x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class ScaleBySquareWrongInB(tu.Function):
    """y = a b^2: the gradient for a is right, the one for b forgets the 2."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b * b, grad * a * b


BAD_ELEMENT = (1, 2)


class TanhWrongAtOneElement(tu.Function):
    """y = tanh x, with a backward that is right everywhere except at BAD_ELEMENT."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        dx = grad * (1 - y * y)
        dx[BAD_ELEMENT] += grad[BAD_ELEMENT]
        return dx


@pytest.fixture
def count_jacobians(monkeypatch):
    """Counts how often gradcheck builds the full Jacobian, to tell the two modes apart."""
    calls = []
    original = gradcheck_module.jacobians

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(gradcheck_module, "jacobians", counting)
    return calls


# --- correct ops pass, in both modes -------------------------------------------------------


def test_full_jacobian_mode_passes_a_correct_op(count_jacobians):
    a, b = leaf((2, 3), 0), leaf((3,), 1)
    assert tu.gradcheck(lambda a, b: (a * b).sigmoid() @ b, (a, b))
    assert len(count_jacobians) == 1


def test_random_direction_mode_passes_a_correct_op_on_a_large_input(count_jacobians):
    x = leaf((100, 100), 2)
    assert tu.gradcheck(lambda x: (x.tanh() * x).sum(1), (x,))
    assert count_jacobians == []  # 100 x 10000 Jacobian entries: too many to build


def test_gradcheck_leaves_the_inputs_unchanged():
    small, large = leaf((2, 3), 3), leaf((40, 40), 4)
    before = small.data.copy(), large.data.copy()
    tu.gradcheck(lambda x: x.exp(), (small,))
    tu.gradcheck(lambda x: x.exp(), (large,))
    np.testing.assert_array_equal(small.data, before[0])
    np.testing.assert_array_equal(large.data, before[1])


def test_non_tensor_and_constant_inputs_pass_through():
    x, c = leaf((2, 2), 5), tu.Tensor(np.ones((2, 2)))
    assert tu.gradcheck(lambda x, c, k: x * c * k, (x, c, 3.0))


# --- wrong backwards fail, and the message says where --------------------------------------


def test_wrong_backward_fails_naming_input_element_analytic_and_numeric():
    x = leaf((2, 3), 6)
    with pytest.raises(tu.GradcheckError) as info:
        tu.gradcheck(SquareForgetsTheTwo.apply, (x,))
    message = str(info.value)
    # the first wrong Jacobian entry is d y[0,0] / d x[0,0]: analytic x, numeric 2x
    assert "input 0" in message and "element (0, 0)" in message
    analytic = float(re.search(r"analytic (\S+),", message).group(1))
    numeric = float(re.search(r"numeric (\S+),", message).group(1))
    assert analytic == pytest.approx(x.data[0, 0], rel=1e-5)
    assert numeric == pytest.approx(2 * x.data[0, 0], rel=1e-5)
    assert "relative error" in message


def test_wrong_backward_of_the_second_input_names_input_1():
    a, b = leaf((3,), 7), leaf((3,), 8)
    with pytest.raises(tu.GradcheckError, match=r"input 1 .*element \(0,\)"):
        tu.gradcheck(ScaleBySquareWrongInB.apply, (a, b))


def test_wrong_backward_fails_in_random_direction_mode_and_names_the_worst_element():
    x = leaf((30, 30), 9)  # 900 x 900 Jacobian: random directions
    with pytest.raises(tu.GradcheckError, match=r"input 0 .*random direction.*analytic.*numeric"):
        tu.gradcheck(TanhWrongAtOneElement.apply, (x,))
    with pytest.raises(tu.GradcheckError, match=re.escape(f"worst element is {BAD_ELEMENT}")):
        tu.gradcheck(TanhWrongAtOneElement.apply, (x,))


def test_raise_exception_false_returns_false():
    assert (
        tu.gradcheck(SquareForgetsTheTwo.apply, (leaf((2, 2), 10),), raise_exception=False) is False
    )
    assert (
        tu.gradcheck(SquareForgetsTheTwo.apply, (leaf((30, 30), 11),), raise_exception=False)
        is False
    )
    assert tu.gradcheck(lambda x: x * x, (leaf((2, 2), 10),), raise_exception=False) is True


# --- the per-element report ----------------------------------------------------------------


def test_report_is_near_zero_for_a_correct_op():
    x = leaf((3, 4), 12)
    (report,) = tu.gradcheck_report(lambda x: x.tanh(), (x,))
    assert report.shape == x.shape
    assert report.max() < 1e-6


def test_report_points_exactly_at_the_wrong_element():
    x = leaf((3, 4), 13)
    report = tu.gradcheck_report(TanhWrongAtOneElement.apply, (x,))
    assert len(report) == 1 and report[0].shape == (3, 4)
    wrong = np.zeros((3, 4), dtype=bool)
    wrong[BAD_ELEMENT] = True
    assert report[0][wrong].min() > 0.1
    assert report[0][~wrong].max() < 1e-6


def test_report_has_one_array_per_checked_input():
    a, b, c = leaf((2, 3), 14), tu.Tensor(np.ones(3)), leaf((3,), 15)
    report = tu.gradcheck_report(lambda a, b, c: a * b * c * c, (a, b, c))
    assert [r.shape for r in report] == [(2, 3), (3,)]
    assert max(r.max() for r in report) < 1e-6


# --- misuse --------------------------------------------------------------------------------


def test_float32_inputs_raise_asking_for_float64():
    x = leaf((2, 2), 16, dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        tu.gradcheck(lambda x: x * 2, (x,))
    with pytest.raises(ValueError, match="float64"):
        tu.gradcheck_report(lambda x: x * 2, (x,))


def test_no_input_requiring_grad_raises():
    with pytest.raises(ValueError, match="requires_grad"):
        tu.gradcheck(lambda x: x * 2, (tu.Tensor(np.ones(2)),))
