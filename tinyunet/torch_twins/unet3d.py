"""The PyTorch twin of ``tinyunet.models.UNet3D``: as the model is ``UNet`` with other layers,
its twin is the ``UNet`` twin with 3-D layers (the same ``make_*`` methods overridden), under
the same attribute names, so a tinyunet state_dict loads with ``strict=True``."""

import torch.nn as tnn

from .unet import ConvBlock, UNet


class UNet3D(UNet):
    def __init__(self, in_channels=1, num_classes=2, base_channels=32, depth=3, padding="valid",
                 norm="batch", skips=True):
        # c_k, the channels leaving level k, are 2 * base * 2**k here
        super().__init__(in_channels, num_classes, 2 * base_channels, depth, padding,
                         "transposed", skips, norm)

    def make_block(self, cin, cout):
        mid = cout // 2 if cin < cout else cout  # a widening block widens in its second conv
        return ConvBlock(cin, cout, self.pad, self.norm, mid, dims=3)

    def make_pool(self, k):
        return tnn.MaxPool3d(2)

    def make_head(self, num_classes):
        return tnn.Conv3d(self.c[0], num_classes, 1)

    def make_up(self, k):
        return tnn.ConvTranspose3d(self.c[k + 1], self.c[k + 1], 2, stride=2)

    def up_channels(self, k):
        return self.c[k + 1]
