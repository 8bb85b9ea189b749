"""The PyTorch twin of ``tinyunet.models.Classifier``: the U-Net's encoder, then global
average pooling and one linear layer."""

import torch.nn as tnn

from .unet import ConvBlock


class Classifier(tnn.Module):
    def __init__(self, in_channels=1, num_classes=2, base_channels=16, depth=4, norm=None):
        super().__init__()
        c = [base_channels * 2**k for k in range(depth + 1)]
        self.encoder = tnn.ModuleList(
            ConvBlock(in_channels if k == 0 else c[k - 1], c[k], 1, norm) for k in range(depth)
        )
        self.pool = tnn.MaxPool2d(2)
        self.fc = tnn.Linear(c[depth - 1], num_classes)

    def forward(self, x):
        for block in self.encoder:
            x = self.pool(block(x))
        return self.fc(x.mean(dim=(2, 3)))
