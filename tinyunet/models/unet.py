"""U-Net (Ronneberger, Fischer & Brox, 2015) and the plain encoder-decoder it improves on.

    encoder: x -> [ConvBlock -> save s_k -> MaxPool 2x2]  x depth   (size halves, channels double)
    bottleneck: ConvBlock                                          (smallest, richest map)
    decoder: [up -> cat([d, s_k], dim=1) -> ConvBlock]  x depth    (size doubles, channels halve)
    head: 1x1 conv to one logit per class per pixel

The saved maps ``s_k`` are the skip connections: without them (``skips=False``) the decoder
sees only the bottleneck, and the mask comes out blurred. Channels at level k are
``base_channels * 2**k``.

``up_mode="transposed"``: a 2x2 stride-2 transposed conv that doubles the size and halves the
channels, so the block after the cat sees c_k + c_k channels. ``"bilinear"``/``"nearest"``: a
resize that keeps the channels, so the block sees c_{k+1} + c_k (base 64: 256 + 128 = 384 at
half resolution, the lesson's example).

``padding="valid"`` is the original paper: every 3x3 conv trims a pixel each side, a 572x572
input gives a 388x388 mask, and the skips are center-cropped before concatenation.
"""

from __future__ import annotations

from .. import nn
from .blocks import ConvBlock, SkipConnection

UP_MODES = ("transposed", "bilinear", "nearest")


class UNet(nn.Module):
    """U-Net; see the module docstring.

    ``depth``: number of 2x2 max-pools (levels below the top); ``base_channels * 2**k``
    channels at level k; ``padding`` 'same' | 'valid'; ``up_mode`` 'transposed' | 'bilinear' |
    'nearest'; ``skips=False`` gives the plain encoder-decoder; ``norm`` None | 'batch' |
    'group'.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 16,
                 depth: int = 4, padding: str = "same", up_mode: str = "transposed",
                 skips: bool = True, norm: str | None = None):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        if up_mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.config = dict(in_channels=in_channels, num_classes=num_classes,
                           base_channels=base_channels, depth=depth, padding=padding,
                           up_mode=up_mode, skips=skips, norm=norm)
        pad = 1 if padding == "same" else 0
        c = [base_channels * 2**k for k in range(depth + 1)]  # channels at each level

        self.encoder = nn.ModuleList()
        for k in range(depth):
            self.encoder.append(ConvBlock(in_channels if k == 0 else c[k - 1], c[k], pad, norm))
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = ConvBlock(c[depth - 1], c[depth], pad, norm)

        self.ups, self.skip, self.decoder = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for k in reversed(range(depth)):
            if up_mode == "transposed":
                self.ups.append(nn.ConvTranspose2d(c[k + 1], c[k], kernel_size=2, stride=2))
                up_channels = c[k]
            else:
                align = False if up_mode == "bilinear" else None
                self.ups.append(nn.Upsample(scale_factor=2, mode=up_mode, align_corners=align))
                up_channels = c[k + 1]
            self.skip.append(SkipConnection(crop=padding == "valid"))
            block_in = up_channels + c[k] if skips else up_channels
            self.decoder.append(ConvBlock(block_in, c[k], pad, norm))
        self.head = nn.Conv2d(c[0], num_classes, kernel_size=1)

    def forward(self, x):
        f = 2 ** self.config["depth"]
        if self.config["padding"] == "same" and (x.shape[-2] % f or x.shape[-1] % f):
            raise ValueError(
                f"UNet(depth={self.config['depth']}): each max-pool halves H and W, so they must "
                f"be divisible by 2**depth = {f}; got {tuple(x.shape[-2:])} (pad or crop the input)"
            )
        # BEGIN SOLUTION task=5.1 hint="save each encoder map before pooling; decode them reversed"
        saved = []
        for block in self.encoder:
            x = block(x)
            saved.append(x)  # s_k: full detail at this level, kept for the decoder
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, skip, block, s in zip(self.ups, self.skip, self.decoder, reversed(saved)):
            x = up(x)
            if self.config["skips"]:
                x = skip(x, s)  # context from below + detail from the side
            x = block(x)
        return self.head(x)
        # END SOLUTION


def EncoderDecoder(**kwargs) -> UNet:  # noqa: N802  (a model constructor, named like a class)
    """The plain encoder-decoder of the lesson: a U-Net with its rungs removed."""
    return UNet(skips=False, **kwargs)
