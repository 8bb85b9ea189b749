"""The small pieces a U-Net is assembled from.

``ConvBlock``   two 3x3 convolutions, each followed by an optional norm and a ReLU: the unit
                that sits at every level of the U, on the way down and on the way up.
``SkipConnection`` the U's rungs: ``cat([d, s], dim=1)``, the upsampled decoder map ``d``
                (context from below) stacked with the saved encoder map ``s`` (detail from the
                side). With 'valid' convolutions the encoder map is larger, so it is
                center-cropped first, as in the original paper (in 2-D and in 3-D).
"""

from __future__ import annotations

from .. import nn
from ..ops.concat import cat, center_crop


def norm_layer(norm: str | None, channels: int, dims: int = 2) -> nn.Module:
    """``None`` -> Identity, ``"batch"`` -> BatchNorm2d (BatchNorm3d for dims=3), ``"group"`` ->
    GroupNorm (8 groups, or fewer when the channel count is small)."""
    if norm is None:
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm3d(channels) if dims == 3 else nn.BatchNorm2d(channels)
    if norm == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"unknown norm {norm!r}; valid choices are None, 'batch', 'group'")


class ConvBlock(nn.Module):
    """conv3x3 -> norm -> ReLU -> conv3x3 -> norm -> ReLU (3x3x3 convs for ``dims=3``).

    ``padding=1`` ('same') keeps the spatial size; ``padding=0`` ('valid', the 2015 paper)
    shrinks it by 2 pixels per conv. A conv followed by BatchNorm needs no bias: the norm
    subtracts each channel's mean (and any bias with it) and adds its own shift. With GroupNorm
    the bias is dropped by the same convention, though there it is not exactly redundant.
    The first conv goes to ``mid_channels`` (default: ``out_channels``): the 3-D U-Net doubles
    the channels in its second conv, just before the pool.
    """

    def __init__(self, in_channels: int, out_channels: int, padding: int = 1, norm=None,
                 mid_channels: int | None = None, dims: int = 2):
        super().__init__()
        bias, mid = norm is None, mid_channels or out_channels
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        self.conv1 = conv(in_channels, mid, 3, padding=padding, bias=bias)
        self.norm1 = norm_layer(norm, mid, dims)
        self.act1 = nn.ReLU()
        self.conv2 = conv(mid, out_channels, 3, padding=padding, bias=bias)
        self.norm2 = norm_layer(norm, out_channels, dims)
        self.act2 = nn.ReLU()

    def forward(self, x):
        x = self.act1(self.norm1(self.conv1(x)))
        return self.act2(self.norm2(self.conv2(x)))


class SkipConnection(nn.Module):
    """``cat([d, s], dim=1)``: decoder map first, then the (cropped) encoder map."""

    def __init__(self, crop: bool = False):
        super().__init__()
        self.crop = crop

    def cropped(self, s, d):
        """``s`` center-cropped to ``d``'s size with 'valid' padding (where it is larger): its
        (H, W), or (D, H, W) for volumes."""
        return center_crop(s, d.shape[2:]) if self.crop else s

    def forward(self, d, s):
        return cat([d, self.cropped(s, d)], dim=1)

    def extra_repr(self) -> str:
        return "crop=True" if self.crop else ""
