"""The PyTorch twin of ``tinyunet.models.ResidualUNet``: the twin U-Net with residual units,
y = F(x) + shortcut(x), for its blocks."""

import torch.nn as tnn

from .unet import ConvBlock, UNet, center_crop


class ResidualUnit(ConvBlock):
    def __init__(self, cin, cout, pad, norm):
        super().__init__(cin, cout, pad, norm)
        self.shortcut = tnn.Conv2d(cin, cout, 1) if cin != cout else tnn.Identity()

    def forward(self, x):
        f = super().forward(x)
        return f + center_crop(self.shortcut(x), f.shape[-2:])


class ResidualUNet(UNet):
    def make_block(self, cin, cout):
        return ResidualUnit(cin, cout, self.pad, self.norm)
