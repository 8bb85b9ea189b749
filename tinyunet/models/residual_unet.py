"""Residual U-Net: the U-Net with residual units for its blocks (He et al. 2016; Zhang, Liu &
Wang 2018; MONAI's ``UNet(num_res_units=...)``).

What changes: the block at every level, down and up. A ``ConvBlock`` computes F(x), two 3x3
convs; a residual unit adds its input back::

    y = F(x) + x          (the identity, where the channels stay the same)
    y = F(x) + P x        (P a 1x1 conv, a projection, where they change)

so each unit only has to learn a correction to what it is given, and the gradient has a
path around every pair of convs (dL/dx = dL/dy (dF/dx + 1)). With 'valid' padding F shrinks
the map by 4 pixels, and the shortcut is center-cropped to match.

Side by side with ``unet.py`` the one line that differs is ``make_block``: it returns a
``ResidualUnit`` (below) instead of a ``ConvBlock``. Every block in the U is one, so the
summary marks encoder, bottleneck and decoder alike.
"""

from __future__ import annotations

from .. import nn
from ..ops.concat import center_crop
from .blocks import ConvBlock
from .unet import UNet


class ResidualUnit(ConvBlock):
    """``y = F(x) + shortcut(x)``: F is the ``ConvBlock`` (conv -> norm -> ReLU, twice), the
    shortcut the identity, or a 1x1 conv where ``in_channels != out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, padding: int = 1, norm=None):
        super().__init__(in_channels, out_channels, padding, norm)
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels
                         else nn.Identity())

    def forward(self, x):
        f = super().forward(x)  # F(x)
        s = self.shortcut(x)
        if s.shape[-2:] != f.shape[-2:]:  # 'valid': F trimmed 2 pixels off each side
            s = center_crop(s, f.shape[-2:])
        return f + s


class ResidualUNet(UNet):
    """The U-Net of ``unet.py`` with a ``ResidualUnit`` for every block (same arguments)."""

    changes = "every block is a residual unit: y = F(x) + x (a 1x1 projection of x where " \
              "the channels change)"
    changed_stages = ("encoder.*", "bottleneck", "decoder.*")

    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        pad = 1 if self.config["padding"] == "same" else 0
        return ResidualUnit(in_channels, out_channels, pad, self.config["norm"])
