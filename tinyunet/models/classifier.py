"""The lesson's contrast: a classifier that collapses the image to one label.

Same encoder as the U-Net, then global average pooling throws away *where* and keeps only
*what*: (N, C, H, W) -> (N, C) -> one logit per class per image, where the U-Net gives one
per class per *pixel*.
"""

from __future__ import annotations

from .. import nn
from .blocks import ConvBlock


class Classifier(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 16,
                 depth: int = 4, norm: str | None = None):
        super().__init__()
        self.config = dict(in_channels=in_channels, num_classes=num_classes,
                           base_channels=base_channels, depth=depth, norm=norm)
        c = [base_channels * 2**k for k in range(depth + 1)]
        self.encoder = nn.ModuleList()
        for k in range(depth):
            self.encoder.append(ConvBlock(in_channels if k == 0 else c[k - 1], c[k], 1, norm))
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(c[depth - 1], num_classes)

    def forward(self, x):
        for block in self.encoder:
            x = self.pool(block(x))
        x = x.mean(dim=(2, 3))  # global average pooling: the spatial grid collapses here
        return self.fc(x)
