"""The PyTorch twin of ``tinyunet.models.UNet3D``: the same layers under the same attribute
names, so a tinyunet state_dict loads with ``strict=True``."""

import torch
import torch.nn as tnn


def _norm(norm, channels):
    if norm is None:
        return tnn.Identity()
    if norm == "batch":
        return tnn.BatchNorm3d(channels)
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return tnn.GroupNorm(groups, channels)


class ConvBlock(tnn.Module):
    def __init__(self, cin, mid, cout, pad, norm):
        super().__init__()
        self.conv1 = tnn.Conv3d(cin, mid, 3, padding=pad, bias=norm is None)
        self.norm1 = _norm(norm, mid)
        self.act1 = tnn.ReLU()
        self.conv2 = tnn.Conv3d(mid, cout, 3, padding=pad, bias=norm is None)
        self.norm2 = _norm(norm, cout)
        self.act2 = tnn.ReLU()

    def forward(self, x):
        x = self.act1(self.norm1(self.conv1(x)))
        return self.act2(self.norm2(self.conv2(x)))


def center_crop(s, size):
    starts = [int(round((n - m) / 2.0)) for n, m in zip(s.shape[2:], size)]
    return s[(..., *(slice(a, a + m) for a, m in zip(starts, size)))]


class UNet3D(tnn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=32, depth=3, padding="valid",
                 norm="batch"):
        super().__init__()
        self.valid = padding == "valid"
        pad = 0 if self.valid else 1
        c = [base_channels * 2**k for k in range(depth + 2)]
        self.encoder = tnn.ModuleList(
            ConvBlock(in_channels if k == 0 else c[k], c[k], c[k + 1], pad, norm)
            for k in range(depth))
        self.pool = tnn.MaxPool3d(2)
        self.bottleneck = ConvBlock(c[depth], c[depth], c[depth + 1], pad, norm)
        self.ups, self.decoder = tnn.ModuleList(), tnn.ModuleList()
        for k in reversed(range(depth)):
            self.ups.append(tnn.ConvTranspose3d(c[k + 2], c[k + 2], 2, stride=2))
            self.decoder.append(ConvBlock(c[k + 2] + c[k + 1], c[k + 1], c[k + 1], pad, norm))
        self.head = tnn.Conv3d(c[1], num_classes, 1)

    def forward(self, x):
        saved = []
        for block in self.encoder:
            x = block(x)
            saved.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, s in zip(self.ups, self.decoder, reversed(saved)):
            x = up(x)
            x = block(torch.cat([x, center_crop(s, x.shape[2:]) if self.valid else s], dim=1))
        return self.head(x)
