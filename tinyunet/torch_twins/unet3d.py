"""The PyTorch twin of ``tinyunet.models.UNet3D``: the same layers under the same attribute
names, every list indexed by level k, so a tinyunet state_dict loads with ``strict=True``."""

import torch
import torch.nn as tnn


def _norm(norm, channels):
    if norm is None:
        return tnn.Identity()
    if norm == "batch":
        return tnn.BatchNorm3d(channels)
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return tnn.GroupNorm(groups, channels)


class ConvBlock3d(tnn.Module):
    def __init__(self, cin, cout, pad, norm):
        super().__init__()
        mid = cout // 2 if cin < cout else cout  # a widening block widens in its second conv
        self.conv1 = tnn.Conv3d(cin, mid, 3, padding=pad, bias=norm is None)
        self.norm1 = _norm(norm, mid)
        self.act1 = tnn.ReLU()
        self.conv2 = tnn.Conv3d(mid, cout, 3, padding=pad, bias=norm is None)
        self.norm2 = _norm(norm, cout)
        self.act2 = tnn.ReLU()

    def forward(self, x):
        x = self.act1(self.norm1(self.conv1(x)))
        return self.act2(self.norm2(self.conv2(x)))


class Skip3d(tnn.Module):
    def __init__(self, crop):
        super().__init__()
        self.crop = crop

    def forward(self, d, s):
        if self.crop:
            starts = [int(round((n - m) / 2.0)) for n, m in zip(s.shape[2:], d.shape[2:])]
            s = s[(..., *(slice(a, a + m) for a, m in zip(starts, d.shape[2:])))]
        return torch.cat([d, s], dim=1)


class UNet3D(tnn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=32, depth=3, padding="valid",
                 norm="batch", skips=True):
        super().__init__()
        self.depth, self.skips = depth, skips
        pad = 1 if padding == "same" else 0
        c = [2 * base_channels * 2**k for k in range(depth + 1)]  # leaving level k
        self.encoder = tnn.ModuleList(
            ConvBlock3d(in_channels if k == 0 else c[k - 1], c[k], pad, norm) for k in range(depth))
        self.pool = tnn.ModuleList(tnn.MaxPool3d(2) for _ in range(depth))
        self.bottleneck = ConvBlock3d(c[depth - 1], c[depth], pad, norm)
        levels = range(depth)
        self.ups = tnn.ModuleList(tnn.ConvTranspose3d(c[k + 1], c[k + 1], 2, stride=2)
                                  for k in levels)
        self.skip = tnn.ModuleList(Skip3d(padding == "valid") for _ in levels)
        self.decoder = tnn.ModuleList(
            ConvBlock3d(c[k + 1] + (c[k] if skips else 0), c[k], pad, norm) for k in levels)
        self.head = tnn.Conv3d(c[0], num_classes, 1)

    def forward(self, x):
        saved = []
        for block, pool in zip(self.encoder, self.pool):
            x = block(x)
            saved.append(x)
            x = pool(x)
        x = self.bottleneck(x)
        for k in reversed(range(self.depth)):
            x = self.ups[k](x)
            if self.skips:
                x = self.skip[k](x, saved[k])
            x = self.decoder[k](x)
        return self.head(x)
