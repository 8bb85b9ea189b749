"""Attention U-Net (Oktay et al. 2018): the U-Net with an attention gate on each skip.

What changes: the rung. A plain skip hands the decoder the whole encoder map s_k, background and
all; a gate first weighs every pixel of it by how relevant the decoder's context finds it::

    q     = psi^T ReLU(W_x^T x + W_g^T g + b_g) + b_psi      (1x1 convs: per pixel, over channels)
    alpha = sigmoid(q)                                       (N, 1, H, W), in (0, 1)
    x_hat = alpha * x                                        then cat([d, x_hat], dim=1)

x is the skip's encoder map s_k, g the gating signal: the decoder map that just came up from
level k + 1 (so it carries the coarser, more semantic context). Where the context says "nothing
here", alpha -> 0 and the skip's detail is suppressed; alpha = 1 everywhere is the plain U-Net
exactly (a test holds it). ``model(x, return_attention=True)`` also returns the alpha maps.

Side by side with ``unet.py`` the one line that differs is ``make_skip``: it returns an
``AttentionSkip`` (below) instead of a ``SkipConnection``; ``forward`` only adds the
``return_attention`` option. As MONAI's ``AttentionUnet`` does, the gate reads g after
``ups.k``, on level k's grid; Oktay et al. gate on the coarser grid and upsample alpha -- the
same formula, one resample fewer.
"""

from __future__ import annotations

from .. import nn
from ..ops.activation import relu, sigmoid
from ..ops.concat import cat
from .blocks import SkipConnection
from .unet import UNet


class AttentionGate(nn.Module):
    """``alpha = sigmoid(psi^T ReLU(W_x^T x + W_g^T g + b_g) + b_psi)``, one weight per pixel.

    W_x, W_g: 1x1 convs to ``inter_channels`` (W_x without a bias: b_g is the one bias of the
    sum); psi: a 1x1 conv to one channel, its bias is b_psi.
    """

    def __init__(self, x_channels: int, g_channels: int, inter_channels: int):
        super().__init__()
        self.W_x = nn.Conv2d(x_channels, inter_channels, 1, bias=False)
        self.W_g = nn.Conv2d(g_channels, inter_channels, 1)
        self.psi = nn.Conv2d(inter_channels, 1, 1)

    def forward(self, x, g):
        q = self.psi(relu(self.W_x(x) + self.W_g(g)))
        return sigmoid(q)


class AttentionSkip(SkipConnection):
    """``cat([d, alpha * s], dim=1)`` with ``alpha = gate(x=s, g=d)``; the last alpha is kept
    (detached, for plotting) in ``self.alpha``."""

    def __init__(self, skip_channels: int, gate_channels: int, crop: bool = False):
        super().__init__(crop)
        self.gate = AttentionGate(skip_channels, gate_channels, max(1, skip_channels // 2))
        self.alpha = None

    def forward(self, d, s):
        s = self.cropped(s, d)
        alpha = self.gate(s, d)
        self.alpha = alpha.detach()
        return cat([d, alpha * s], dim=1)


class AttentionUNet(UNet):
    """The U-Net of ``unet.py`` with an ``AttentionSkip`` at every level (same arguments).

    ``model(x)`` gives the logits; ``model(x, return_attention=True)`` gives ``(logits,
    alphas)``, ``alphas[k]`` the (N, 1, H_k, W_k) gate of level k (``skip.k``).
    """

    changes = ("an attention gate on each skip: x_hat = sigmoid(psi^T ReLU(W_x^T x + W_g^T g "
               "+ b_g) + b_psi) * x")
    changed_stages = ("skip.*",)

    def make_skip(self, k: int) -> nn.Module:
        if not self.config["skips"]:
            raise ValueError("AttentionUNet gates the skips: skips=False leaves nothing to gate "
                             "(use EncoderDecoder for the U-Net without skips)")
        return AttentionSkip(self.channels[k], self.up_channels(k),
                             crop=self.config["padding"] == "valid")

    def forward(self, x, return_attention: bool = False):
        logits = super().forward(x)
        if return_attention:
            return logits, [skip.alpha for skip in self.skip]
        return logits
