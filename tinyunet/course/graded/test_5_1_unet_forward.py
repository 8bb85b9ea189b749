"""Task 5.1: the U-Net forward, judged by the data flow through the model's own modules.

Every sub-module is wrapped to log what it receives and returns; the forward must call them in
the U's order and hand each one the right tensor: the encoder's map at level k goes to
``skip.k`` beside the decoder's upsampled map.
"""

import numpy as np
import pytest

from tinyunet.backend import use_kernels
from tinyunet.gradcheck import gradcheck
from tinyunet.models.unet import UNet
from tinyunet.random import manual_seed
from tinyunet.tensor import Tensor

CONFIGS = [dict(depth=1, up_mode="transposed", padding="same", skips=True),
           dict(depth=2, up_mode="bilinear", padding="same", skips=True),
           dict(depth=1, up_mode="transposed", padding="valid", skips=True),
           dict(depth=2, up_mode="nearest", padding="same", skips=False)]


def _model(rng, **config):
    manual_seed(int(rng.integers(2**31)))
    return UNet(in_channels=int(rng.integers(1, 3)), num_classes=int(rng.integers(2, 4)),
                base_channels=2, **config)


def _input(rng, model, batch=1):
    depth, valid = model.config["depth"], model.config["padding"] == "valid"
    side = 20 if valid else 2 ** depth * int(rng.integers(1, 3))
    return Tensor(rng.standard_normal((batch, model.config["in_channels"], side, side)))


def _logged(model):
    """Wrap every sub-module's forward; returns the list the calls are appended to."""
    log = []

    def wrap(name, module):
        inner = module.forward

        def forward(*args):
            out = inner(*args)
            log.append((name, args, out))
            return out

        object.__setattr__(module, "forward", forward)

    for k in range(model.config["depth"]):
        for part in ("encoder", "pool", "ups", "skip", "decoder"):
            wrap(f"{part}.{k}", getattr(model, part)[k])
    wrap("bottleneck", model.bottleneck)
    wrap("head", model.head)
    return log


@pytest.mark.task("5.1", points=6)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_data_flow(config, rng):
    model = _model(rng, **config)
    log = _logged(model)
    x = _input(rng, model)
    with use_kernels("reference"):
        y = model(x)
    depth, skips = config["depth"], config["skips"]
    down = [s for k in range(depth) for s in (f"encoder.{k}", f"pool.{k}")] + ["bottleneck"]
    up = [s for k in reversed(range(depth))
          for s in ((f"ups.{k}", f"skip.{k}") if skips else (f"ups.{k}",)) + (f"decoder.{k}",)]
    names = [name for name, _, _ in log]
    assert names == down + up + ["head"], f"modules called in the order {names}"
    out = {name: result for name, _, result in log}
    args = {name: a for name, a, _ in log}
    feeds = {"encoder.0": x, "head": out["decoder.0"], "bottleneck": out[f"pool.{depth - 1}"],
             f"ups.{depth - 1}": out["bottleneck"]}
    for k in range(depth):
        feeds[f"pool.{k}"] = out[f"encoder.{k}"]
        feeds[f"decoder.{k}"] = out[f"skip.{k}"] if skips else out[f"ups.{k}"]
        if k + 1 < depth:
            feeds[f"encoder.{k + 1}"] = out[f"pool.{k}"]
            feeds[f"ups.{k}"] = out[f"decoder.{k + 1}"]
    for name, expected in feeds.items():
        assert args[name][0] is expected, f"{name} was not given the output it should read"
    for k in range(depth if skips else 0):
        assert args[f"skip.{k}"][0] is out[f"ups.{k}"], f"skip.{k} must get ups.{k}'s output"
        assert args[f"skip.{k}"][1] is out[f"encoder.{k}"], (
            f"skip.{k} must get the encoder's map saved at level {k}")
    assert y is out["head"], "the forward returns the head's logits"


def _valid_size(size, depth):
    """Every 3x3 'valid' conv trims 2 pixels: two per block, pools halve, ups double."""
    for _ in range(depth):
        size = (size - 4) // 2
    size -= 4
    for _ in range(depth):
        size = 2 * size - 4
    return size


@pytest.mark.task("5.1", points=2)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_output_size(padding, rng):
    model = _model(rng, depth=1, padding=padding)
    x = _input(rng, model, batch=2)
    with use_kernels("reference"):
        y = model(x)
    side = x.shape[-1] if padding == "same" else _valid_size(x.shape[-1], 1)
    assert y.shape == (2, model.config["num_classes"], side, side)


@pytest.mark.task("5.1", points=2)
def test_gradcheck_through_the_network(rng):
    """Finite differences across a ReLU's kink (or a max-pool's near tie) are wrong, however
    right the backward: such an input is rare, and the check then runs on a second one. A wrong
    backward fails both."""
    model = _model(rng, depth=1).double()
    for attempt in range(2):
        x = Tensor(rng.standard_normal((1, model.config["in_channels"], 4, 4)),
                   requires_grad=True)
        with use_kernels("reference"):
            passed = gradcheck(model, (x,), seed=int(rng.integers(2**31)),
                               raise_exception=attempt == 1)
        if passed:
            break
    assert np.isfinite(x.grad).all()
