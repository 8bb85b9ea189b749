"""Task 4.2: soft Dice: the overlap loss, its smoothing terms, and its gradient."""

import numpy as np
import pytest
from graded_checks import assert_close, soft_dice

from tinyunet.gradcheck import gradcheck
from tinyunet.ops.dice import dice_loss
from tinyunet.tensor import Tensor

OPTIONS = {
    "softmax": {},
    "with background": {"include_background": True},
    "squared": {"squared_pred": True},
    "batch": {"batch": True},
    "sigmoid": {"activation": "sigmoid"},
}


def _case(rng, option):
    kwargs = OPTIONS[option]
    N, H, W = int(rng.integers(1, 3)), 3, 4
    if kwargs.get("activation") == "sigmoid":
        C = int(rng.integers(1, 3))
        return rng.standard_normal((N, C, H, W)), rng.integers(0, 2, (N, C, H, W)), kwargs
    C = int(rng.integers(2, 4))
    return rng.standard_normal((N, C, H, W)), rng.integers(0, C, size=(N, H, W)), kwargs


@pytest.mark.task("4.2", points=3)
@pytest.mark.parametrize("option", OPTIONS)
def test_forward(option, rng):
    z, y, kwargs = _case(rng, option)
    assert_close(dice_loss(Tensor(z), y, **kwargs).data, soft_dice(z, y, **kwargs),
                 f"dice_loss ({option})")


@pytest.mark.task("4.2", points=2)
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_an_empty_mask_predicted_empty_is_perfect(activation, rng):
    """No foreground anywhere, and none predicted: 0/0 without the smoothing terms; with them
    D = smooth_nr / smooth_dr = 1, a loss of 0."""
    N, H, W = 2, 4, 4
    margin = rng.uniform(60.0, 80.0)  # the foreground probability underflows to 0
    if activation == "softmax":
        z = np.stack([np.full((N, H, W), margin), np.full((N, H, W), -margin)], axis=1)
        y = np.zeros((N, H, W), dtype=np.int64)
    else:
        z, y = np.full((N, 1, H, W), -2 * margin), np.zeros((N, 1, H, W))
    value = dice_loss(Tensor(z.astype(np.float32)), y, activation=activation).data
    assert np.isfinite(value) and abs(float(value)) < 1e-3, f"loss {value}, expected 0"


@pytest.mark.task("4.2", points=3)
@pytest.mark.parametrize("option", ["softmax", "squared", "sigmoid"])
def test_gradcheck(option, rng):
    z, y, kwargs = _case(rng, option)
    gradcheck(lambda t: dice_loss(t, y, **kwargs), (Tensor(z, requires_grad=True),),
              seed=int(rng.integers(2**31)))
