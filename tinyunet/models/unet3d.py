"""3D U-Net (Çiçek, Abdulkadir, Lienkamp, Brox & Ronneberger, 2016): the U-Net of
``unet.py`` with one change, the dimension. Every 3x3 conv is 3x3x3, every 2x2 pool 2x2x2,
every 2x2 up-convolution 2x2x2, and the skips are center-cropped in depth too:

    encoder: x -> [ConvBlock -> save s_k -> MaxPool 2x2x2]  x depth
    bottleneck: ConvBlock
    decoder: [up-conv 2x2x2 -> cat([d, s_k], dim=1) -> ConvBlock]  x depth
    head: 1x1x1 conv to one logit per class per voxel

The same parts (``blocks.ConvBlock`` with ``dims=3``, ``blocks.SkipConnection``) in the same
order under the same names as ``UNet``. What the paper also does differently, followed here:

* the channels double *before* each pool, in a level's second conv (level k: b 2**k ->
  b 2**(k+1)); the first level goes in -> 32 -> 64 for base b = 32, the bottleneck
  256 -> 256 -> 512;
* the up-convolution keeps its channels (512 -> 512), so decoder level k sees
  b 2**(k+2) + b 2**(k+1) channels (512 + 256 = 768) and returns b 2**(k+1);
* BatchNorm before every ReLU (``norm="batch"``), 'valid' convolutions: 132x132x116 in,
  44x44x28 out (``size_plan((132, 132, 116), depth=3, dims=3)``).

``padding="same"`` keeps every size (each side then a multiple of 2**depth).
"""

from __future__ import annotations

from .. import nn
from .blocks import ConvBlock, SkipConnection
from .size_plan import check_size


class UNet3D(nn.Module):
    """3D U-Net; see the module docstring. ``UNet3D()`` is the paper's network (base 32,
    depth 3, 'valid', BatchNorm) for one input channel and two classes."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 32,
                 depth: int = 3, padding: str = "valid", norm: str | None = "batch"):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.config = dict(in_channels=in_channels, num_classes=num_classes,
                           base_channels=base_channels, depth=depth, padding=padding, norm=norm)
        pad = 1 if padding == "same" else 0
        c = [base_channels * 2**k for k in range(depth + 2)]  # c[k+1] leaves level k

        def block(cin, mid, cout):
            return ConvBlock(cin, cout, pad, norm, mid_channels=mid, dims=3)

        self.encoder = nn.ModuleList(
            block(in_channels if k == 0 else c[k], c[k], c[k + 1]) for k in range(depth))
        self.pool = nn.MaxPool3d(2)
        self.bottleneck = block(c[depth], c[depth], c[depth + 1])

        self.ups, self.skip, self.decoder = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for k in reversed(range(depth)):
            self.ups.append(nn.ConvTranspose3d(c[k + 2], c[k + 2], kernel_size=2, stride=2))
            self.skip.append(SkipConnection(crop=padding == "valid"))
            self.decoder.append(block(c[k + 2] + c[k + 1], c[k + 1], c[k + 1]))
        self.head = nn.Conv3d(c[1], num_classes, kernel_size=1)

    def forward(self, x):
        # before the first conv: an illegal size is named, with the nearest legal ones
        check_size("UNet3D", x.shape[2:], self.config["depth"], self.config["padding"], dims=3)
        saved = []
        for block in self.encoder:
            x = block(x)
            saved.append(x)  # s_k: full detail at this level, kept for the decoder
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, skip, block, s in zip(self.ups, self.skip, self.decoder, reversed(saved)):
            x = block(skip(up(x), s))  # context from below + (cropped) detail from the side
        return self.head(x)
