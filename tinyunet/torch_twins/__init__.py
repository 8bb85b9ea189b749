"""PyTorch twins of tinyunet's models, written in plain PyTorch (this package imports torch and
nothing from tinyunet).

A twin has the same layers under the same attribute names as its tinyunet model, so a tinyunet
``state_dict`` loads into it with ``strict=True``: the tests compare the two output for output
and gradient for gradient, the benchmarks time them side by side, and ``tinyunet export
--torch`` ships the twin's source as the plain-PyTorch model. One module per model family;
:data:`TWINS` maps each tinyunet model class to its twin.

A twin takes its model's ``config`` as keyword arguments and the same inputs in ``forward``.
It imports a sibling's pieces by name (``from .unet import ConvBlock``), and its module holds
imports, classes, functions and assignments only: export inlines what a twin needs from its
siblings into one stand-alone file (:mod:`tinyunet.interop.source`).
"""

import torch

from .attention_unet import AttentionUNet
from .classifier import Classifier
from .diffusion_unet import DiffusionUNet
from .residual_unet import ResidualUNet
from .unet import UNet
from .unet3d import UNet3D
from .unetpp import UNetPlusPlus

TWINS = {"UNet": UNet, "AttentionUNet": AttentionUNet, "ResidualUNet": ResidualUNet,
         "UNetPlusPlus": UNetPlusPlus, "Classifier": Classifier, "DiffusionUNet": DiffusionUNet,
         "UNet3D": UNet3D}


def twin_of(model):
    """The PyTorch twin of a tinyunet model, holding a copy of its weights (and buffers), in
    the model's float dtype and training mode."""
    name = type(model).__name__
    if name not in TWINS:
        raise KeyError(f"no PyTorch twin for {name}; twins exist for {sorted(TWINS)}")
    state = {k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    twin = TWINS[name](**model.config).to(floats[0] if floats else torch.float32)
    twin.load_state_dict(state, strict=True)
    twin.train(model.training)
    return twin
