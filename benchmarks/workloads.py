"""What is timed, for one framework at a time: each builder returns zero-argument closures.

The same data (a NumPy generator seeded 0) and the same network on both sides: the reference
U-Net (``models.py``), cross-entropy, SGD. A backward is timed alone: ``setup()`` runs the
forward, untimed, and the closure times only ``backward``.
"""

from __future__ import annotations

import numpy as np

from .models import PARAMETERS, tinyunet_unet, torch_unet


def _check_size(model, parameters):
    count = sum(int(np.prod(p.shape)) for p in parameters)
    assert count == PARAMETERS, f"{type(model).__name__} has {count} parameters, not {PARAMETERS}"


def training_step(framework, batch=8, size=128):
    """Forward, cross-entropy, backward and SGD on a batch of ``batch`` size x size images."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, (batch, size, size))
    if framework == "torch":
        import torch

        model = torch_unet()
        _check_size(model, model.parameters())
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
        return step

    import tinyunet as tu
    import tinyunet.functional as F
    from tinyunet.optim import SGD

    model = tinyunet_unet()
    _check_size(model, model.parameters())
    opt = SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(tu.Tensor(x)), y).backward()
        opt.step()
    return step


def inference(framework, size=512):
    """One size x size image through the U-Net, no gradients."""
    x = np.random.default_rng(0).standard_normal((1, 1, size, size)).astype(np.float32)
    if framework == "torch":
        import torch

        model, xt = torch_unet(), torch.from_numpy(x)

        def infer():
            with torch.no_grad():
                model(xt)
        return infer

    import tinyunet as tu

    model = tinyunet_unet()

    def infer():
        with tu.no_grad():
            model(x)
    return infer


def _lib(framework):
    """(tensor(array, requires_grad), functional module, cat, from_numpy) of a framework."""
    if framework == "torch":
        import torch

        return ((lambda a, r: torch.tensor(a, requires_grad=bool(r))), torch.nn.functional,
                torch.cat, torch.from_numpy)
    import tinyunet as tu
    import tinyunet.functional as F

    return (lambda a, r: tu.Tensor(a, requires_grad=bool(r))), F, F.cat, (lambda a: a)


def _passes(framework, arrays, needs_grad, forward):
    """(forward, setup, backward) closures: ``forward()`` runs the op; ``backward()`` sends a
    fixed random gradient back through the result of the untimed forward that ``setup()``
    ran."""
    tensor, _, _, from_numpy = _lib(framework)
    xs = [tensor(a, r) for a, r in zip(arrays, needs_grad)]
    pending = {}

    def setup():
        for t in xs:
            t.grad = None
        y = pending["y"] = forward(xs)
        if "g" not in pending:
            g = np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(np.float32)
            pending["g"] = from_numpy(g)

    return (lambda: forward(xs)), setup, (lambda: pending["y"].backward(pending["g"]))


def conv_layer(framework, layer, batch=8):
    """One conv (or 2x2 stride-2 transposed conv) of the U-Net: forward; input, weight and
    bias gradients. The first conv sees the image, which needs no gradient in training."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, layer.c_in, layer.size, layer.size)).astype(np.float32)
    w_shape = (layer.c_in, layer.c_out) if layer.transposed else (layer.c_out, layer.c_in)
    w = (rng.standard_normal(w_shape + (layer.k, layer.k)) * 0.1).astype(np.float32)
    b = np.zeros(layer.c_out, np.float32)
    F = _lib(framework)[1]
    pad = 1 if layer.k == 3 else 0

    def forward(t):
        if layer.transposed:
            return F.conv_transpose2d(t[0], t[1], t[2], stride=2)
        return F.conv2d(t[0], t[1], t[2], padding=pad)

    return _passes(framework, (x, w, b), (layer.c_in != 1, 1, 1), forward)


OPS = ("max_pool2d 2x2 16@128", "cat 16+16@128", "upsample nearest x2 32@64",
       "upsample bilinear x2 32@64")


def op(framework, name, batch=8):
    """Max-pool, concat and upsampling at the sizes of the U-Net's top levels (``OPS``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, 16, 128, 128)).astype(np.float32)
    s = rng.standard_normal((batch, 32, 64, 64)).astype(np.float32)
    _, F, cat, _ = _lib(framework)
    forwards = {
        OPS[0]: ([a], lambda t: F.max_pool2d(t[0], 2)),
        OPS[1]: ([a, a], lambda t: cat(t, dim=1)),
        OPS[2]: ([s], lambda t: F.interpolate(t[0], scale_factor=2)),
        OPS[3]: ([s], lambda t: F.interpolate(t[0], scale_factor=2, mode="bilinear",
                                              align_corners=False)),
    }
    arrays, forward = forwards[name]
    return _passes(framework, arrays, [1] * len(arrays), forward)
