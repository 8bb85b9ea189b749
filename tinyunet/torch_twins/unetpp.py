"""The PyTorch twin of ``tinyunet.models.UNetPlusPlus``: the twin U-Net's encoder and head with
the nested grid x^{i,j} = H([x^{i,0}, ..., x^{i,j-1}, U(x^{i+1,j-1})]) for its way up."""

import torch
import torch.nn as tnn

from .unet import UNet


class UNetPlusPlus(UNet):
    def __init__(self, in_channels=1, num_classes=2, base_channels=16, depth=4, padding="same",
                 up_mode="transposed", norm=None, deep_supervision=False):
        super().__init__(in_channels, num_classes, base_channels, depth, padding, up_mode,
                         norm=norm)
        for j in range(1, depth if deep_supervision else 1):
            self.add_module(f"head_{j}", tnn.Conv2d(self.c[0], num_classes, 1))

    def build_up_path(self):
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                self.add_module(f"up_{i}_{j}", self.make_up(i))
                self.add_module(f"x_{i}_{j}",
                                self.make_block(j * self.c[i] + self.up_channels(i), self.c[i]))

    def head_of(self, j):
        return self.head if j == self.depth else getattr(self, f"head_{j}")

    def forward(self, x, prune=None, all_heads=False):
        k = self.depth if prune is None else prune
        X = {}
        for i in range(k + 1):
            h = x if i == 0 else self.pool[i - 1](X[i - 1, 0])
            X[i, 0] = self.encoder[i](h) if i < self.depth else self.bottleneck(h)
        for j in range(1, k + 1):
            for i in range(k + 1 - j):
                below = getattr(self, f"up_{i}_{j}")(X[i + 1, j - 1])
                stacked = torch.cat([X[i, m] for m in range(j)] + [below], dim=1)
                X[i, j] = getattr(self, f"x_{i}_{j}")(stacked)
        if all_heads:
            return [self.head_of(j)(X[0, j]) for j in range(1, k + 1)]
        return self.head_of(k)(X[0, k])
