"""The losses' PyTorch surface beyond class indices: probability targets for cross-entropy,
the deprecated size_average/reduce flags, PyTorch's argument order, MSE's weight, empty
batches; against PyTorch forward and backward (the target's gradient too), and gradcheck."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.nn as nn
from tinyunet.ops.cross_entropy import cross_entropy
from tinyunet.ops.loss import binary_cross_entropy_with_logits, mse_loss


def _soft_target(rng, shape):
    q = rng.random(shape)
    return q / q.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 1), (2, 3, 4, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted, smoothing", [(False, 0.0), (True, 0.0), (True, 0.3)])
def test_probability_targets_match_torch(torch, dtype, shape, reduction, weighted, smoothing):
    rng = np.random.default_rng(0)
    z, q = rng.standard_normal(shape).astype(dtype), _soft_target(rng, shape).astype(dtype)
    w = rng.random(shape[1]).astype(dtype) if weighted else None
    Z, Q = tu.Tensor(z, requires_grad=True), tu.Tensor(q, requires_grad=True)
    tz, tq = torch.tensor(z, requires_grad=True), torch.tensor(q, requires_grad=True)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    y = cross_entropy(Z, Q, weight=w, **kw)
    ty = torch.nn.functional.cross_entropy(tz, tq, weight=None if w is None else
                                           torch.tensor(w), **kw)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(Z.grad, tz.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(Q.grad, tq.grad.numpy(), rtol=tol, atol=tol)


def test_a_one_hot_probability_target_is_the_class_index(rng):
    z = rng.standard_normal((4, 3, 5))
    y = rng.integers(0, 3, (4, 5))
    onehot = np.moveaxis(np.eye(3)[y], -1, 1)
    for smoothing in (0.0, 0.2):
        np.testing.assert_allclose(cross_entropy(z, onehot, label_smoothing=smoothing).data,
                                   cross_entropy(z, y, label_smoothing=smoothing).data,
                                   rtol=1e-12)


def test_probability_target_gradcheck(rng):
    z = tu.Tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    q = tu.Tensor(_soft_target(rng, (2, 3, 2)), requires_grad=True)
    w = rng.random(3)
    assert tu.gradcheck(lambda z, q: cross_entropy(z, q, weight=w, label_smoothing=0.1), (z, q))
    assert tu.gradcheck(lambda z: cross_entropy(z, q.data[0, :, 0]), (z[0, :, 0].detach()
                                                                      .requires_grad_(),))


@pytest.mark.parametrize("size_average, reduce, expected", [
    (None, None, "mean"), (True, None, "mean"), (False, None, "sum"), (None, False, "none"),
    (False, False, "none"), (True, True, "mean"), (False, True, "sum"),
])
@pytest.mark.filterwarnings("ignore:size_average and reduce")
def test_the_deprecated_flags_name_a_reduction(torch, rng, size_average, reduce, expected):
    z, y = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    t = rng.random((4, 3))
    legacy = dict(size_average=size_average, reduce=reduce)
    cases = [
        (cross_entropy(z, y, **legacy), cross_entropy(z, y, reduction=expected),
         torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y), **legacy)),
        (binary_cross_entropy_with_logits(z, t, **legacy),
         binary_cross_entropy_with_logits(z, t, reduction=expected),
         torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(z),
                                                              torch.tensor(t), **legacy)),
        (mse_loss(z, t, **legacy), mse_loss(z, t, reduction=expected),
         torch.nn.functional.mse_loss(torch.tensor(z), torch.tensor(t), **legacy)),
    ]
    for ours, named, theirs in cases:
        np.testing.assert_allclose(ours.data, named.data, rtol=1e-12)
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


def test_losses_take_torchs_positional_order(torch, rng):
    """cross_entropy(input, target, weight, size_average, ignore_index, reduce, reduction,
    label_smoothing) and BCE's (input, target, weight, size_average, reduce, reduction,
    pos_weight): a positional call means the same in both frameworks."""
    z, y, w = rng.standard_normal((5, 3)), rng.integers(0, 3, 5), rng.random(3)
    t = rng.random((5, 3))
    T = torch.tensor
    np.testing.assert_allclose(
        cross_entropy(z, y, w, None, 1, None, "sum", 0.1).data,
        torch.nn.functional.cross_entropy(T(z), T(y), T(w), None, 1, None, "sum", 0.1).numpy(),
        rtol=1e-12)
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(z, t, None, None, None, "none", w).data,
        torch.nn.functional.binary_cross_entropy_with_logits(T(z), T(t), None, None, None,
                                                             "none", T(w)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_weight_matches_torch(torch, rng, reduction):
    x, t, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4))
    X = tu.Tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y = mse_loss(X, t, reduction=reduction, weight=w)
    ty = torch.nn.functional.mse_loss(tx, torch.tensor(t), reduction=reduction,
                                      weight=torch.tensor(w))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=1e-12)
    assert tu.gradcheck(lambda a: mse_loss(a, t, weight=w, reduction=reduction),
                        (tu.Tensor(x, requires_grad=True),))


def test_empty_batches_give_torchs_nan_mean_and_zero_sum(torch):
    z, y, q = np.zeros((0, 3)), np.zeros(0, dtype=np.int64), np.zeros((0, 3))
    for ours, theirs in [
        (cross_entropy(z, y), torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y))),
        (cross_entropy(z, q), torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(q))),
        (mse_loss(z, q), torch.nn.functional.mse_loss(torch.tensor(z), torch.tensor(q))),
    ]:
        assert np.isnan(ours.item()) and np.isnan(theirs.item())
    assert cross_entropy(z, q, reduction="sum").item() == 0


def test_loss_modules_take_torchs_constructor_order(rng):
    w = rng.random(3)
    ce = nn.CrossEntropyLoss(w, None, 1, None, "sum", 0.1)
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (1, "sum", 0.1)
    assert nn.CrossEntropyLoss(size_average=False).reduction == "sum"
    assert nn.BCEWithLogitsLoss(None, None, False).reduction == "none"
    assert nn.MSELoss(None, None, "sum").reduction == "sum"


def test_probability_target_errors(rng):
    z = rng.standard_normal((2, 3))
    with pytest.raises(NotImplementedError, match="pixel_weight is only supported with"):
        cross_entropy(z, _soft_target(rng, (2, 3)), pixel_weight=np.ones((2, 3)))
    with pytest.raises(ValueError, match="class probabilities of the logits' own shape"):
        cross_entropy(z, rng.random((2, 4)))
    with pytest.raises(ValueError, match=r"weight has shape \(2, 4\) but the input"):
        mse_loss(z, z, weight=np.ones((2, 4)))
