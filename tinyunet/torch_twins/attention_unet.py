"""The PyTorch twin of ``tinyunet.models.AttentionUNet``: the twin U-Net with an attention gate
on each skip, alpha = sigmoid(psi^T ReLU(W_x^T x + W_g^T g + b_g) + b_psi)."""

import torch
import torch.nn as tnn

from .unet import UNet, center_crop


class AttentionGate(tnn.Module):
    def __init__(self, x_channels, g_channels, inter_channels):
        super().__init__()
        self.W_x = tnn.Conv2d(x_channels, inter_channels, 1, bias=False)
        self.W_g = tnn.Conv2d(g_channels, inter_channels, 1)
        self.psi = tnn.Conv2d(inter_channels, 1, 1)

    def forward(self, x, g):
        return torch.sigmoid(self.psi(torch.relu(self.W_x(x) + self.W_g(g))))


class AttentionSkip(tnn.Module):
    def __init__(self, skip_channels, gate_channels, crop):
        super().__init__()
        self.crop = crop
        self.gate = AttentionGate(skip_channels, gate_channels, max(1, skip_channels // 2))
        self.alpha = None

    def forward(self, d, s):
        s = center_crop(s, d.shape[-2:]) if self.crop else s
        alpha = self.gate(s, d)
        self.alpha = alpha.detach()
        return torch.cat([d, alpha * s], dim=1)


class AttentionUNet(UNet):
    def make_skip(self, k):
        return AttentionSkip(self.c[k], self.up_channels(k), self.valid)

    def forward(self, x, return_attention=False):
        logits = super().forward(x)
        if return_attention:
            return logits, [skip.alpha for skip in self.skip]
        return logits
