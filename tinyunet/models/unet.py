"""U-Net (Ronneberger, Fischer & Brox, 2015) and the plain encoder-decoder it improves on.

    encoder: x -> [ConvBlock -> save s_k -> MaxPool 2x2]  x depth   (size halves, channels double)
    bottleneck: ConvBlock                                          (smallest, richest map)
    decoder: [up -> cat([d, s_k], dim=1) -> ConvBlock]  x depth    (size doubles, channels halve)
    head: 1x1 conv to one logit per class per pixel

The saved maps ``s_k`` are the skip connections: without them (``skips=False``) the decoder
sees only the bottleneck, and the mask comes out blurred. Channels at level k are
``base_channels * 2**k``.

One numbering for the levels, from the figure to the code: level k is the resolution H / 2^k,
and every list is indexed by it. ``encoder.k`` and ``decoder.k`` sit at level k (the two ends
of one rung), ``skip.k`` is the rung between them, ``pool.k`` leaves level k going down and
``ups.k`` arrives at level k coming up. The lesson counts from 1 (its "decoder level 2" meets
"the encoder's level-2 map" s2): that is level k = 1 here, ``encoder.1`` -> ``skip.1`` ->
``decoder.1``.

``up_mode="transposed"``: a 2x2 stride-2 transposed conv that doubles the size and halves the
channels, so the block after the cat sees c_k + c_k channels. ``"bilinear"``/``"nearest"``: a
resize that keeps the channels, so the block sees c_{k+1} + c_k (base 64: 256 + 128 = 384 at
half resolution, the lesson's example).

``padding="valid"`` is the original paper: every 3x3 conv trims a pixel each side, a 572x572
input gives a 388x388 mask, and the skips are center-cropped before concatenation.

The variants (``attention_unet.py``, ``residual_unet.py``, ``unetpp.py``, ``unet3d.py``) each
replace one part of this skeleton by overriding ``make_*`` / ``build_up_path`` methods below.
"""

from __future__ import annotations

from .. import nn
from .blocks import ConvBlock, SkipConnection
from .size_plan import require_legal_size

UP_MODES = ("transposed", "bilinear", "nearest")


class UNet(nn.Module):
    """U-Net; see the module docstring.

    ``depth``: number of 2x2 max-pools (levels below the top); ``base_channels * 2**k``
    channels at level k; ``padding`` 'same' | 'valid'; ``up_mode`` 'transposed' | 'bilinear' |
    'nearest'; ``skips=False`` gives the plain encoder-decoder; ``norm`` None | 'batch' |
    'group'.
    """

    #: the part of the plain U-Net a variant replaces (a one-line description), and the stages
    #: that hold it (fnmatch patterns on the names ``summary`` prints); the U-Net has none.
    changes: str | None = None
    changed_stages: tuple[str, ...] = ()
    dims = 2  # spatial dimensions of the input: (N, C, H, W)

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
        c = self.channels = [base_channels * 2**k for k in range(depth + 1)]  # c_k at level k

        self.encoder = nn.ModuleList(
            self.make_block(in_channels if k == 0 else c[k - 1], c[k]) for k in range(depth))
        self.pool = nn.ModuleList(self.make_pool(k) for k in range(depth))
        self.bottleneck = self.make_block(c[depth - 1], c[depth])
        self.build_up_path()
        self.head = self.make_head()

    # ----- the replaceable parts: each variant overrides one of these -----------------------
    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        """The unit at every level, down and up: two 3x3 convs (``ConvBlock``)."""
        pad = 1 if self.config["padding"] == "same" else 0
        return ConvBlock(in_channels, out_channels, pad, self.config["norm"])

    def make_pool(self, k: int) -> nn.Module:
        """``pool.k``: from level k down to level k + 1 (size / 2)."""
        return nn.MaxPool2d(2)

    def make_head(self) -> nn.Module:
        """A 1x1 conv from level 0's channels to one logit per class."""
        return nn.Conv2d(self.channels[0], self.config["num_classes"], kernel_size=1)

    def make_up(self, k: int) -> nn.Module:
        """``ups.k``: from level k + 1 up to level k (size x2)."""
        c, mode = self.channels, self.config["up_mode"]
        if mode == "transposed":
            return nn.ConvTranspose2d(c[k + 1], c[k], kernel_size=2, stride=2)
        return nn.Upsample(scale_factor=2, mode=mode,
                           align_corners=False if mode == "bilinear" else None)

    def up_channels(self, k: int) -> int:
        """Channels coming out of ``ups.k``: halved by a transposed conv, kept by a resize."""
        return self.channels[k if self.config["up_mode"] == "transposed" else k + 1]

    def make_skip(self, k: int) -> nn.Module:
        """``skip.k``: the rung at level k, ``cat([d, s_k], dim=1)``."""
        return SkipConnection(crop=self.config["padding"] == "valid")

    def build_up_path(self):
        """``ups``, ``skip`` and ``decoder``, indexed by level. Built in the order the data flows
        (deepest level first), so a seed draws the same weights as it always has."""
        c, path = self.channels, {}
        for k in reversed(range(self.config["depth"])):
            up, skip = self.make_up(k), self.make_skip(k)
            block_in = self.up_channels(k) + (c[k] if self.config["skips"] else 0)
            path[k] = (up, skip, self.make_block(block_in, c[k]))
        levels = range(self.config["depth"])
        self.ups = nn.ModuleList(path[k][0] for k in levels)
        self.skip = nn.ModuleList(path[k][1] for k in levels)
        self.decoder = nn.ModuleList(path[k][2] for k in levels)

    # ----- the forward pass ------------------------------------------------------------------
    def check_size(self, x):
        """Before the first conv: a size the U cannot take ('same': sides not divisible by
        2**depth; 'valid': an odd size at a pool, or nothing left) is named with the nearest
        legal ones (``size_plan``)."""
        require_legal_size(type(self).__name__, x.shape[2:], self.config["depth"],
                           self.config["padding"], dims=self.dims)

    def forward(self, x):
        self.check_size(x)
        # BEGIN SOLUTION task=5.1 hint="save each encoder map before pooling; decode them reversed"
        saved = []
        for block, pool in zip(self.encoder, self.pool):
            x = block(x)
            saved.append(x)  # s_k: full detail at level k, kept for the decoder
            x = pool(x)
        x = self.bottleneck(x)
        for k in reversed(range(self.config["depth"])):  # back up: level depth-1, ..., 0
            x = self.ups[k](x)
            if self.config["skips"]:
                x = self.skip[k](x, saved[k])  # context from below + detail from the side
            x = self.decoder[k](x)
        return self.head(x)
        # END SOLUTION


def EncoderDecoder(**kwargs) -> UNet:  # noqa: N802  (a model constructor, named like a class)
    """The plain encoder-decoder of the lesson: a U-Net with its rungs removed."""
    return UNet(skips=False, **kwargs)
