"""The reference U-Net and its layers, in tinyunet and in PyTorch, with FLOP counts.

Reference: in 1, classes 2, base 16, depth 4, two 3x3 same convs + ReLU per block, 2x2
max-pool, 2x2 stride-2 transposed conv, concat skips, 1x1 head; 1,940,834 parameters.

This module imports neither framework at the top: the harness, which must not have imported
tinyunet when it starts a torch process, reads the layer list from here.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

CONFIG = dict(in_channels=1, num_classes=2, base_channels=16, depth=4)
PARAMETERS = 1_940_834


@dataclass(frozen=True)
class ConvLayer:
    """One conv (or transposed conv) of the reference U-Net at batch N, input size H x H."""

    name: str
    c_in: int
    c_out: int
    k: int
    size: int  # input height = width
    transposed: bool = False

    def out_size(self) -> int:
        return self.size * 2 if self.transposed else self.size

    def forward_flop(self, batch: int) -> float:
        """2 * (multiply-adds): every output value of a conv sums c_in*k*k products; a 2x2
        stride-2 transposed conv paints c_out*k*k products per *input* value."""
        return 2.0 * batch * self.c_in * self.c_out * self.k**2 * self.size**2


def reference_layers(size: int = 128) -> list[ConvLayer]:
    """Every conv and transposed conv of the reference U-Net, in forward order."""
    c = [16 * 2**k for k in range(5)]
    layers = []
    for k in range(4):
        s = size >> k
        layers += [ConvLayer(f"enc{k}.conv1 {1 if k == 0 else c[k - 1]}->{c[k]} @{s}",
                             1 if k == 0 else c[k - 1], c[k], 3, s),
                   ConvLayer(f"enc{k}.conv2 {c[k]}->{c[k]} @{s}", c[k], c[k], 3, s)]
    s = size >> 4
    layers += [ConvLayer(f"bottleneck.conv1 {c[3]}->{c[4]} @{s}", c[3], c[4], 3, s),
               ConvLayer(f"bottleneck.conv2 {c[4]}->{c[4]} @{s}", c[4], c[4], 3, s)]
    for k in reversed(range(4)):
        s = size >> k
        layers += [ConvLayer(f"up{k} convT {c[k + 1]}->{c[k]} @{s // 2}", c[k + 1], c[k], 2,
                             s // 2, transposed=True),
                   ConvLayer(f"dec{k}.conv1 {2 * c[k]}->{c[k]} @{s}", 2 * c[k], c[k], 3, s),
                   ConvLayer(f"dec{k}.conv2 {c[k]}->{c[k]} @{s}", c[k], c[k], 3, s)]
    layers.append(ConvLayer(f"head 1x1 {c[0]}->2 @{size}", c[0], 2, 1, size))
    return layers


def forward_flop(batch: int, size: int) -> float:
    return sum(layer.forward_flop(batch) for layer in reference_layers(size))


def tinyunet_unet():
    from tinyunet.models.unet import UNet

    return UNet(**CONFIG)


def torch_unet():
    """The same network in PyTorch, module for module (the twin the tests compare against).

    Loaded from its file, not as ``tinyunet.torch_twins``: importing that package would run
    ``tinyunet/__init__``, whose thread settings (``tinyunet/threads.py``) must not reach the
    torch process."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, os.pardir, "tinyunet", "torch_twins", "unet.py")
    spec = importlib.util.spec_from_file_location("benchmarks_torch_twin_unet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.UNet(**CONFIG)
