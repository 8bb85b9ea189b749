"""The PyTorch twin of ``tinyunet.models.UNet`` (and of the plain encoder-decoder, its
``skips=False`` case): the same layers under the same attribute names, every list indexed by
level k, and the same ``make_*`` methods for the variants' twins to override."""

import torch
import torch.nn as tnn
import torch.nn.functional as TF


def _norm(norm, channels, dims=2):
    if norm is None:
        return tnn.Identity()
    if norm == "batch":
        return tnn.BatchNorm3d(channels) if dims == 3 else tnn.BatchNorm2d(channels)
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return tnn.GroupNorm(groups, channels)


class ConvBlock(tnn.Module):
    def __init__(self, cin, cout, pad, norm, mid=None, dims=2):
        super().__init__()
        mid = mid or cout
        conv = tnn.Conv3d if dims == 3 else tnn.Conv2d
        self.conv1 = conv(cin, mid, 3, padding=pad, bias=norm is None)
        self.norm1 = _norm(norm, mid, dims)
        self.act1 = tnn.ReLU()
        self.conv2 = conv(mid, cout, 3, padding=pad, bias=norm is None)
        self.norm2 = _norm(norm, cout, dims)
        self.act2 = tnn.ReLU()

    def forward(self, x):
        x = self.act1(self.norm1(self.conv1(x)))
        return self.act2(self.norm2(self.conv2(x)))


def center_crop(s, size):
    """The centre of s's last len(size) axes, rounded as torchvision's center_crop."""
    starts = [int(round((n - m) / 2.0)) for n, m in zip(s.shape[-len(size):], size)]
    return s[(..., *(slice(a, a + m) for a, m in zip(starts, size)))]


class Resize(tnn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        align = False if self.mode == "bilinear" else None
        return TF.interpolate(x, scale_factor=2, mode=self.mode, align_corners=align)


class Skip(tnn.Module):
    def __init__(self, crop):
        super().__init__()
        self.crop = crop

    def forward(self, d, s):
        return torch.cat([d, center_crop(s, d.shape[2:]) if self.crop else s], dim=1)


class UNet(tnn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=16, depth=4, padding="same",
                 up_mode="transposed", skips=True, norm=None):
        super().__init__()
        self.depth, self.skips, self.up_mode, self.norm = depth, skips, up_mode, norm
        self.valid, self.pad = padding == "valid", 1 if padding == "same" else 0
        c = self.c = [base_channels * 2**k for k in range(depth + 1)]
        self.encoder = tnn.ModuleList(
            self.make_block(in_channels if k == 0 else c[k - 1], c[k]) for k in range(depth))
        self.pool = tnn.ModuleList(self.make_pool(k) for k in range(depth))
        self.bottleneck = self.make_block(c[depth - 1], c[depth])
        self.build_up_path()
        self.head = self.make_head(num_classes)

    def make_block(self, cin, cout):
        return ConvBlock(cin, cout, self.pad, self.norm)

    def make_pool(self, k):
        return tnn.MaxPool2d(2)

    def make_head(self, num_classes):
        return tnn.Conv2d(self.c[0], num_classes, 1)

    def make_up(self, k):
        if self.up_mode == "transposed":
            return tnn.ConvTranspose2d(self.c[k + 1], self.c[k], 2, stride=2)
        return Resize(self.up_mode)

    def up_channels(self, k):
        return self.c[k if self.up_mode == "transposed" else k + 1]

    def make_skip(self, k):
        return Skip(self.valid)

    def build_up_path(self):
        levels = range(self.depth)
        self.ups = tnn.ModuleList(self.make_up(k) for k in levels)
        self.skip = tnn.ModuleList(self.make_skip(k) for k in levels)
        self.decoder = tnn.ModuleList(
            self.make_block(self.up_channels(k) + (self.c[k] if self.skips else 0), self.c[k])
            for k in levels)

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
