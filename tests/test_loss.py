"""Losses against PyTorch, against the formulas written directly in NumPy, and against finite
differences; then the lesson's imbalance trap, and every input error."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, DiceCELoss, DiceLoss, MSELoss
from tinyunet.ops.dice import dice_ce_loss, dice_loss
from tinyunet.ops.loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss

REDUCTIONS = ["mean", "sum", "none"]
shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.lists(st.integers(1, 4), max_size=2))


def _backward(out, rng):
    """Backpropagate a random upstream gradient (1 for a scalar loss); return it."""
    upstream = np.ones(()) if out.ndim == 0 else rng.standard_normal(out.shape)
    out.backward(upstream)
    return upstream


def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _gather(log_p, y):
    """log_p[n, y[n, ...], ...]: the log-probability of each position's target class."""
    return np.take_along_axis(log_p, y[:, None], axis=1)[:, 0]


# ----- cross-entropy ----------------------------------------------------------------------------
@given(shape=shapes, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       ignore=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 0.7]), seed=st.integers(0, 999))
def test_cross_entropy_matches_torch(torch, shape, reduction, weighted, ignore, smoothing, seed):
    (N, C, spatial), rng = shape, np.random.default_rng(seed)
    z = rng.standard_normal((N, C, *spatial)) * 3
    y = rng.integers(0, C, (N, *spatial))
    if ignore:  # ignore about half the positions, but keep one so the mean is defined
        y = np.where(rng.random(y.shape) < 0.5, -1, y)
        y.flat[0] = C - 1
    w = rng.random(C) + 0.1 if weighted else None
    kw = dict(ignore_index=-1, reduction=reduction, label_smoothing=smoothing)

    x = tu.Tensor(z, requires_grad=True)
    out = cross_entropy(x, y, weight=w, **kw)
    upstream = _backward(out, rng)
    xt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(
        xt, torch.tensor(y), weight=None if w is None else torch.tensor(w), **kw)
    ref.backward(torch.tensor(upstream))

    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_float32_large_logits_match_torch(torch, rng):
    """Logits in the thousands overflow a naive exp; the shifted log-softmax does not."""
    z = (rng.standard_normal((2, 3, 4, 4)) * 2000).astype(np.float32)
    y = rng.integers(0, 3, (2, 4, 4))
    x = tu.Tensor(z, requires_grad=True)
    out = cross_entropy(x, y)
    out.backward()
    xt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(y))
    ref.backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(out.data, ref.item(), rtol=1e-5)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_cross_entropy_unbatched_and_all_ignored_match_torch(torch, rng):
    z = rng.standard_normal(5)
    for reduction in REDUCTIONS:
        out = cross_entropy(z, np.array(3), reduction=reduction)
        ref = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(3),
                                                reduction=reduction)
        assert out.shape == tuple(ref.shape)
        np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-12)
    z, y = rng.standard_normal((2, 3, 2)), np.full((2, 2), -100)
    ref = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y))
    assert np.isnan(ref.item()) and np.isnan(cross_entropy(z, y).item())


def test_cross_entropy_gradient_is_softmax_minus_onehot(rng):
    z, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    x = tu.Tensor(z, requires_grad=True)
    cross_entropy(x, y, reduction="sum").backward()
    softmax = np.exp(_log_softmax(z))
    np.testing.assert_allclose(x.grad, softmax - np.eye(4)[y], rtol=1e-12, atol=1e-15)


# ----- the U-Net weight map ---------------------------------------------------------------------
def test_pixel_weight_matches_the_formula(rng):
    z = rng.standard_normal((2, 3, 4, 5))
    y = rng.integers(0, 3, (2, 4, 5))
    y[0, 1] = -100
    m = rng.random((2, 4, 5)) * 10
    w = rng.random(3) + 0.5
    kept = y != -100
    y0 = np.where(kept, y, 0)
    nll = -_gather(_log_softmax(z), y0)
    effective = m * w[y0] * kept  # the weight each position's -log p carries
    np.testing.assert_allclose(cross_entropy(z, y, weight=w, pixel_weight=m, reduction="none")
                               .data, effective * nll, rtol=1e-12)
    np.testing.assert_allclose(cross_entropy(z, y, weight=w, pixel_weight=m, reduction="sum")
                               .data, (effective * nll).sum(), rtol=1e-12)
    np.testing.assert_allclose(cross_entropy(z, y, weight=w, pixel_weight=m).data,
                               (effective * nll).sum() / effective.sum(), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pixel_weight_is_torch_none_times_the_map(torch, rng, reduction):
    z = rng.standard_normal((2, 3, 5, 4))
    y = rng.integers(0, 3, (2, 5, 4))
    y[1, :2] = 7  # ignored
    w, m = rng.random(3) + 0.5, rng.random((2, 5, 4)) * 5
    kw = dict(weight=w, ignore_index=7, label_smoothing=0.2)
    x = tu.Tensor(z, requires_grad=True)
    out = cross_entropy(x, y, pixel_weight=m, reduction=reduction, **kw)
    upstream = _backward(out, rng)

    xt = torch.tensor(z, requires_grad=True)
    kw["weight"] = torch.tensor(w)
    per_pixel = torch.nn.functional.cross_entropy(xt, torch.tensor(y), reduction="none", **kw)
    ref = per_pixel * torch.tensor(m)
    effective = (m * w[np.where(y == 7, 0, y)] * (y != 7)).sum()
    ref = {"none": ref, "sum": ref.sum(), "mean": ref.sum() / effective}[reduction]
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_pixel_weight_mean_ignores_the_maps_scale(rng):
    """The documented choice: "mean" is a weighted average, so w0 = 10 is no 10x step size."""
    z, y = rng.standard_normal((2, 2, 6, 6)), rng.integers(0, 2, (2, 6, 6))
    m = rng.random((2, 6, 6))
    np.testing.assert_allclose(cross_entropy(z, y, pixel_weight=10 * m).data,
                               cross_entropy(z, y, pixel_weight=m).data, rtol=1e-12)
    np.testing.assert_allclose(cross_entropy(z, y, pixel_weight=np.ones((2, 6, 6))).data,
                               cross_entropy(z, y).data, rtol=1e-12)


# ----- binary cross-entropy, MSE ----------------------------------------------------------------
@given(shape=shapes, reduction=st.sampled_from(REDUCTIONS), weight=st.sampled_from(
    [None, "full", "channel"]), pos_weight=st.booleans(), seed=st.integers(0, 999))
def test_bce_with_logits_matches_torch(torch, shape, reduction, weight, pos_weight, seed):
    (N, C, spatial), rng = shape, np.random.default_rng(seed)
    z = rng.standard_normal((N, C, *spatial)) * 4
    y = rng.random(z.shape)
    channel = (C,) + (1,) * len(spatial)  # broadcasts along the class dim, as torch's docs say
    w = {None: None, "full": rng.random(z.shape), "channel": rng.random(channel)}[weight]
    k = rng.random(channel) * 3 if pos_weight else None

    x, t = tu.Tensor(z, requires_grad=True), tu.Tensor(y, requires_grad=True)
    out = binary_cross_entropy_with_logits(x, t, weight=w, reduction=reduction, pos_weight=k)
    upstream = _backward(out, rng)
    xt, tt = torch.tensor(z, requires_grad=True), torch.tensor(y, requires_grad=True)
    as_torch = lambda a: None if a is None else torch.tensor(a)  # noqa: E731
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, tt, weight=as_torch(w), reduction=reduction, pos_weight=as_torch(k))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_bce_with_logits_is_stable_for_huge_logits(torch):
    z = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=np.float32)
    y = np.array([1, 1, 0, 1, 1, 0, 0], dtype=np.float32)
    x = tu.Tensor(z, requires_grad=True)
    out = binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=np.float32(2.0))
    out.backward(np.ones(7, np.float32))
    xt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, torch.tensor(y), reduction="none", pos_weight=torch.tensor(2.0))
    ref.sum().backward()
    assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-6, atol=1e-12)
    assert out.data[0] == pytest.approx(2e4)  # -2 log sigmoid(-1e4) = 2e4, not inf
    # confident right answers keep their tiny gradients, sigmoid(-30) ~ 9.4e-14, (torch rounds
    # the second to 0): w [(1 - y) sigmoid(z) - k y sigmoid(-z)] in float64
    sigmoid = lambda v: 1 / (1 + np.exp(-np.float64(v)))  # noqa: E731
    np.testing.assert_allclose(x.grad[[2, 4]], [sigmoid(-30), -2 * sigmoid(-30)], rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_torch(torch, rng, reduction):
    a, b = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    x, t = tu.Tensor(a, requires_grad=True), tu.Tensor(b, requires_grad=True)
    out = mse_loss(x, t, reduction=reduction)
    upstream = _backward(out, rng)
    xt, tt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ref = torch.nn.functional.mse_loss(xt, tt, reduction=reduction)
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12)


# ----- soft Dice --------------------------------------------------------------------------------
def dice_numpy(z, y, activation, include_background, squared_pred, batch, reduction,
               smooth_nr=1e-5, smooth_dr=1e-5):
    """The Dice formula, one image (or the pooled batch) and one class at a time."""
    if activation == "softmax":
        p = np.exp(_log_softmax(z))
        g = np.moveaxis(np.eye(z.shape[1])[y], -1, 1)
        classes = range(0 if include_background else 1, z.shape[1])
    else:
        p, g, classes = 1 / (1 + np.exp(-z)), y.reshape(z.shape), range(z.shape[1])
    groups = [slice(None)] if batch else [slice(n, n + 1) for n in range(len(z))]
    power = 2 if squared_pred else 1
    losses = np.array([[
        1 - (2 * (p[i, c] * g[i, c]).sum() + smooth_nr)
        / ((p[i, c] ** power).sum() + (g[i, c] ** power).sum() + smooth_dr)
        for c in classes] for i in groups])
    losses = losses[0] if batch else losses
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]


@given(shape=shapes, activation=st.sampled_from(["softmax", "sigmoid"]),
       include_background=st.booleans(), squared_pred=st.booleans(), batch=st.booleans(),
       reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 999))
def test_dice_matches_the_formula(shape, activation, include_background, squared_pred, batch,
                                  reduction, seed):
    (N, C, spatial), rng = shape, np.random.default_rng(seed)
    C = max(C, 2) if activation == "softmax" else C
    z = rng.standard_normal((N, C, *spatial)) * 2
    if activation == "softmax":
        y = rng.integers(0, C, (N, *spatial))
    else:  # one-channel logits take an (N, d1, ...) mask too
        y = rng.integers(0, 2, (N, *spatial) if C == 1 else z.shape)
    kw = dict(activation=activation, include_background=include_background,
              squared_pred=squared_pred, batch=batch, reduction=reduction)
    np.testing.assert_allclose(dice_loss(z, y, **kw).data, dice_numpy(z, y, **kw), rtol=1e-10)


def test_dice_of_a_perfect_prediction_is_zero_and_of_its_opposite_one(rng):
    y = rng.integers(0, 3, (2, 5, 5))
    onehot = np.moveaxis(np.eye(3)[y], -1, 1)
    assert dice_loss(40 * onehot, y).item() == pytest.approx(0, abs=1e-6)
    assert dice_loss(-40 * onehot, y).item() == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("include_background", [False, True])
@pytest.mark.parametrize("squared_pred", [False, True])
@pytest.mark.parametrize("batch", [False, True])
def test_dice_gradcheck(rng, activation, include_background, squared_pred, batch):
    z = tu.Tensor(rng.standard_normal((2, 3, 3, 2)), requires_grad=True)
    y = rng.integers(0, 3, (2, 3, 2)) if activation == "softmax" else rng.integers(0, 2, z.shape)
    kw = dict(activation=activation, include_background=include_background,
              squared_pred=squared_pred, batch=batch, reduction="none")
    assert tu.gradcheck(lambda x: dice_loss(x, y, **kw), (z,))


# ----- gradient checks of the other losses ------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradcheck(rng, reduction):
    z = tu.Tensor(rng.standard_normal((2, 3, 2, 3)), requires_grad=True)
    y = rng.integers(0, 3, (2, 2, 3))
    y[0, 0, 0] = -100
    w, m = rng.random(3) + 0.5, rng.random((2, 2, 3)) * 3
    fn = lambda x: cross_entropy(x, y, weight=w, pixel_weight=m, reduction=reduction,  # noqa: E731
                                 label_smoothing=0.3)
    assert tu.gradcheck(fn, (z,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_and_mse_gradcheck(rng, reduction):
    z = tu.Tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    y = tu.Tensor(rng.uniform(0.1, 0.9, (2, 2, 3)), requires_grad=True)
    w, k = rng.random((2, 1)), rng.random((2, 1)) * 3
    assert tu.gradcheck(lambda a, b: binary_cross_entropy_with_logits(
        a, b, weight=w, pos_weight=k, reduction=reduction), (z, y))
    assert tu.gradcheck(lambda a, b: mse_loss(a, b, reduction=reduction), (z, y))


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_dice_ce_is_the_weighted_sum_of_its_parts(rng, activation):
    z = rng.standard_normal((2, 3, 4, 4))
    y = rng.integers(0, 3, (2, 4, 4)) if activation == "softmax" else rng.integers(0, 2, z.shape)
    x = tu.Tensor(z, requires_grad=True)
    out = dice_ce_loss(x, y, lambda_dice=0.3, lambda_ce=2.0, activation=activation,
                       squared_pred=True)
    out.backward()
    ce = (cross_entropy(z, y) if activation == "softmax"
          else binary_cross_entropy_with_logits(z, y.astype(float)))
    dice = dice_loss(z, y, activation=activation, squared_pred=True)
    np.testing.assert_allclose(out.data, 0.3 * dice.data + 2.0 * ce.data, rtol=1e-12)
    assert tu.gradcheck(lambda a: dice_ce_loss(a, y, lambda_dice=0.3, lambda_ce=2.0,
                                               activation=activation), (x,))


def test_dice_ce_accepts_an_nhw_mask_for_one_channel_sigmoid(rng):
    z, y = rng.standard_normal((2, 1, 4, 4)), rng.integers(0, 2, (2, 4, 4))
    expected = dice_loss(z, y, activation="sigmoid").data + binary_cross_entropy_with_logits(
        z, y[:, None].astype(float)).data
    np.testing.assert_allclose(dice_ce_loss(z, y, activation="sigmoid").data, expected)


# ----- the lesson's trap ------------------------------------------------------------------------
def test_all_background_prediction_low_cross_entropy_but_dice_near_one():
    """10x10 image, a 4-pixel tumour, a model confidently predicting background everywhere."""
    y = np.zeros((1, 10, 10), dtype=np.int64)
    y[0, 4:6, 4:6] = 1  # the tumour: 4 of 100 pixels
    logits = np.zeros((1, 2, 10, 10))
    logits[:, 0] = 4.0  # background by a margin of 4 everywhere: p(tumour) ~ 0.018
    ce, dice = cross_entropy(logits, y).item(), dice_loss(logits, y).item()
    assert (logits.argmax(1) == y).mean() == 0.96  # pixel accuracy looks great
    assert ce < np.log(2) / 3  # a third of a coin flip's loss: "happily low"
    assert dice > 0.95  # Dice sees no overlap with the tumour: "you found nothing"


# ----- errors -----------------------------------------------------------------------------------
def test_cross_entropy_errors(rng):
    z, y = rng.standard_normal((2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))
    with pytest.raises(ValueError, match=r"target has shape \(2, 4, 4\) but logits \(2, 3, 4, 5\)"
                       r" need a target of shape \(2, 4, 5\)"):
        cross_entropy(z, y[:, :, :4])
    bad = y.copy()
    bad[0, 0, :3] = [3, 7, -1]
    with pytest.raises(ValueError, match=r"values \[-1, 3, 7\] outside the 3 classes \[0, 3\)"):
        cross_entropy(z, bad)
    with pytest.raises(ValueError, match="integer class indices, got dtype float64"):
        cross_entropy(z, y.astype(float))
    for value, word in ((np.nan, "1 NaN and 0 inf"), (np.inf, "0 NaN and 1 inf")):
        z_bad = z.copy()
        z_bad[1, 2, 3, 4] = value
        with pytest.raises(ValueError, match=rf"logits of shape \(2, 3, 4, 5\) contain {word}.*"
                           "cannot handle"):
            cross_entropy(z_bad, y)
    with pytest.raises(ValueError, match=r"weight has shape \(2,\) but .* C = 3 classes"):
        cross_entropy(z, y, weight=np.ones(2))
    with pytest.raises(ValueError, match=r"pixel_weight has shape \(4, 5\) but the target has "
                       r"shape \(2, 4, 5\)"):
        cross_entropy(z, y, pixel_weight=np.ones((4, 5)))
    with pytest.raises(ValueError, match="pixel_weight has negative values"):
        cross_entropy(z, y, pixel_weight=-np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match=r"reduction must be one of .* got 'avg'"):
        cross_entropy(z, y, reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        cross_entropy(z, y, label_smoothing=1.5)


def test_bce_mse_errors(rng):
    z = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match=r"target has shape \(2, 4\) but logits have shape"):
        binary_cross_entropy_with_logits(z, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 1\].* 0 to 255"):
        binary_cross_entropy_with_logits(z, np.full(z.shape, 255.0) * (rng.random(z.shape) > .5))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        binary_cross_entropy_with_logits(z, np.zeros(z.shape), pos_weight=np.ones(3))
    with pytest.raises(ValueError, match="contain 1 NaN and 0 inf"):
        binary_cross_entropy_with_logits(np.where(z == z.min(), np.nan, z), np.zeros(z.shape))
    with pytest.raises(ValueError, match=r"input has shape \(2, 3, 4\) but target has shape "
                       r"\(2, 3, 1\)"):
        mse_loss(z, z[..., :1])
    with pytest.raises(ValueError, match="mse_loss: input of shape .* contain 0 NaN and 1 inf"):
        mse_loss(np.where(z == z.max(), np.inf, z), z)


def test_dice_errors(rng):
    z = rng.standard_normal((2, 3, 4, 4))
    with pytest.raises(ValueError, match="softmax over C = 1 channel .* use activation='sigmoid'"):
        dice_loss(z[:, :1], np.zeros((2, 4, 4), dtype=int))
    with pytest.raises(ValueError, match=r"target must have the logits' shape \(2, 3, 4, 4\), got"
                       r" \(2, 4, 4\)"):
        dice_loss(z, np.zeros((2, 4, 4)), activation="sigmoid")
    with pytest.raises(ValueError, match=r"mask in \[0, 1\], found values 0 to 2"):
        dice_loss(z, rng.integers(0, 3, z.shape), activation="sigmoid")
    with pytest.raises(ValueError, match=r"values \[5\] outside the 3 classes"):
        dice_loss(z, np.full((2, 4, 4), 5))
    with pytest.raises(ValueError, match="activation must be 'softmax' or 'sigmoid', got 'relu'"):
        dice_loss(z, np.zeros((2, 4, 4), dtype=int), activation="relu")
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum'\)"):
        dice_ce_loss(z, np.zeros((2, 4, 4), dtype=int), reduction="none")


# ----- the nn.Module wrappers -------------------------------------------------------------------
def test_loss_modules_call_the_functions(rng):
    z, y = rng.standard_normal((2, 3, 4, 4)), rng.integers(0, 3, (2, 4, 4))
    w, m, mask = rng.random(3) + 0.5, rng.random((2, 4, 4)), rng.integers(0, 2, z.shape)
    criterion = CrossEntropyLoss(weight=w, ignore_index=2, label_smoothing=0.1, reduction="sum")
    assert list(criterion.state_dict()) == ["weight"]  # a buffer, as in torch
    np.testing.assert_allclose(criterion(z, y, pixel_weight=m).data, cross_entropy(
        z, y, weight=w, ignore_index=2, reduction="sum", pixel_weight=m, label_smoothing=0.1).data)
    k = w[:, None, None]  # one positive weight per channel
    np.testing.assert_allclose(BCEWithLogitsLoss(pos_weight=k)(z, mask).data,
                               binary_cross_entropy_with_logits(z, mask, pos_weight=k).data)
    np.testing.assert_allclose(MSELoss(reduction="none")(z, 2 * z).data, z**2)
    kw = dict(include_background=True, squared_pred=True, batch=True)
    np.testing.assert_allclose(DiceLoss(**kw)(z, y).data, dice_loss(z, y, **kw).data)
    np.testing.assert_allclose(DiceCELoss(lambda_ce=0.5, **kw)(z, y).data,
                               dice_ce_loss(z, y, lambda_ce=0.5, **kw).data)
    x = tu.Tensor(z, requires_grad=True)
    DiceCELoss()(x, y).backward()
    assert x.grad.shape == z.shape and np.abs(x.grad).sum() > 0
    with pytest.raises(ValueError, match="DiceCELoss: reduction must be one of"):
        DiceCELoss(reduction="none")
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be one of"):
        CrossEntropyLoss(reduction="batchmean")
