"""The PyTorch twin of ``tinyunet.models.UNet`` (and of the plain encoder-decoder, its
``skips=False`` case): the same layers under the same attribute names."""

import torch
import torch.nn as tnn
import torch.nn.functional as TF


def _norm(norm, channels):
    if norm is None:
        return tnn.Identity()
    if norm == "batch":
        return tnn.BatchNorm2d(channels)
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return tnn.GroupNorm(groups, channels)


class ConvBlock(tnn.Module):
    def __init__(self, cin, cout, pad, norm):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, padding=pad, bias=norm is None)
        self.norm1 = _norm(norm, cout)
        self.act1 = tnn.ReLU()
        self.conv2 = tnn.Conv2d(cout, cout, 3, padding=pad, bias=norm is None)
        self.norm2 = _norm(norm, cout)
        self.act2 = tnn.ReLU()

    def forward(self, x):
        x = self.act1(self.norm1(self.conv1(x)))
        return self.act2(self.norm2(self.conv2(x)))


def center_crop(s, size):
    h, w = s.shape[-2:]
    top, left = int(round((h - size[0]) / 2.0)), int(round((w - size[1]) / 2.0))
    return s[..., top : top + size[0], left : left + size[1]]


class UNet(tnn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=16, depth=4, padding="same",
                 up_mode="transposed", skips=True, norm=None):
        super().__init__()
        self.skips, self.valid, self.up_mode = skips, padding == "valid", up_mode
        pad = 1 if padding == "same" else 0
        c = [base_channels * 2**k for k in range(depth + 1)]
        self.encoder = tnn.ModuleList(
            ConvBlock(in_channels if k == 0 else c[k - 1], c[k], pad, norm) for k in range(depth)
        )
        self.pool = tnn.MaxPool2d(2)
        self.bottleneck = ConvBlock(c[depth - 1], c[depth], pad, norm)
        self.ups, self.decoder = tnn.ModuleList(), tnn.ModuleList()
        for k in reversed(range(depth)):
            if up_mode == "transposed":
                self.ups.append(tnn.ConvTranspose2d(c[k + 1], c[k], 2, stride=2))
                up = c[k]
            else:
                self.ups.append(tnn.Identity())
                up = c[k + 1]
            self.decoder.append(ConvBlock(up + c[k] if skips else up, c[k], pad, norm))
        self.head = tnn.Conv2d(c[0], num_classes, 1)

    def forward(self, x):
        saved = []
        for block in self.encoder:
            x = block(x)
            saved.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, s in zip(self.ups, self.decoder, reversed(saved)):
            if self.up_mode == "transposed":
                x = up(x)
            else:
                align = False if self.up_mode == "bilinear" else None
                x = TF.interpolate(x, scale_factor=2, mode=self.up_mode, align_corners=align)
            if self.skips:
                x = torch.cat([x, center_crop(s, x.shape[-2:]) if self.valid else s], dim=1)
            x = block(x)
        return self.head(x)
