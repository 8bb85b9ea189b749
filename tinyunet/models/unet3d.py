"""3D U-Net (Çiçek, Abdulkadir, Lienkamp, Brox & Ronneberger, 2016): the U-Net of ``unet.py``
with one change, the dimension. Every 3x3 conv is 3x3x3, every 2x2 pool 2x2x2, every 2x2
up-convolution 2x2x2, and the skips are center-cropped in depth too::

    encoder: x -> [ConvBlock -> save s_k -> MaxPool 2x2x2]  x depth
    bottleneck: ConvBlock
    decoder: [up-conv 2x2x2 -> cat([d, s_k], dim=1) -> ConvBlock]  x depth
    head: 1x1x1 conv to one logit per class per voxel

The skeleton, the forward pass and the level numbering are ``UNet``'s; this class overrides
the parts that make layers (``make_block``, ``make_pool``, ``make_up``, ``make_head``). Two
choices of the paper come with them:

* a block that widens does it in its *second* conv, so the channels double just before each
  pool: level k goes c_k / 2 -> c_k, the first level in -> 32 -> 64 for base 32, the
  bottleneck 256 -> 512 (c_k = 2 base 2**k, the channels leaving level k);
* the up-convolution keeps its channels (512 -> 512), so decoder level k takes
  c_{k+1} + c_k channels (512 + 256 = 768) and returns c_k.

``UNet3D()`` is the paper's network (base 32, depth 3, 'valid' 3x3x3 convs, BatchNorm before
every ReLU) for one input channel and two classes: a 132x132x116 tile gives a 44x44x28
prediction (``size_plan((132, 132, 116), depth=3, dims=3)``). ``padding="same"`` keeps the
size (then every side must divide by 2**depth).
"""

from __future__ import annotations

from .. import nn
from .blocks import ConvBlock
from .unet import UNet


class UNet3D(UNet):
    """The 3-D U-Net; see the module docstring. ``skips=False`` gives the plain 3-D
    encoder-decoder."""

    changes = "the dimension: 3x3x3 convs, 2x2x2 pools and up-convolutions (the channels " \
              "double before each pool; each up-convolution keeps them)"
    changed_stages = ("*",)
    dims = 3  # spatial dimensions of the input: (N, C, D, H, W)

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 32,
                 depth: int = 3, padding: str = "valid", norm: str | None = "batch",
                 skips: bool = True):
        # UNet's c_k are the channels leaving level k: 2 * base * 2**k here (64 at the top)
        super().__init__(in_channels, num_classes, 2 * base_channels, depth, padding,
                         "transposed", skips, norm)
        self.config = dict(in_channels=in_channels, num_classes=num_classes,
                           base_channels=base_channels, depth=depth, padding=padding, norm=norm,
                           skips=skips)

    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        """Two 3x3x3 convs; a widening block widens in its second conv (in -> out/2 -> out)."""
        pad = 1 if self.config["padding"] == "same" else 0
        mid = out_channels // 2 if in_channels < out_channels else out_channels
        return ConvBlock(in_channels, out_channels, pad, self.config["norm"], mid_channels=mid,
                         dims=3)

    def make_pool(self, k: int) -> nn.Module:
        return nn.MaxPool3d(2)

    def make_head(self) -> nn.Module:
        return nn.Conv3d(self.channels[0], self.config["num_classes"], kernel_size=1)

    def make_up(self, k: int) -> nn.Module:
        """``ups.k``: a 2x2x2 stride-2 up-convolution that keeps the channels c_{k+1}."""
        c = self.channels[k + 1]
        return nn.ConvTranspose3d(c, c, kernel_size=2, stride=2)

    def up_channels(self, k: int) -> int:
        return self.channels[k + 1]
