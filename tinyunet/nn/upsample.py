"""Sub-pixel upsampling: PixelShuffle, PixelUnshuffle, SubPixelUpsample and the ICNR initialiser.

A sub-pixel convolution doubles the resolution by computing r*r maps per output channel at
*low* resolution, one per phase (a, b) of each r x r output block, and interleaving them
(``pixel_shuffle``)::

    y[c, r*i + a, r*j + b] = conv(x, W)[c*r*r + a*r + b, i, j] + b[c*r*r + a*r + b]

Each phase has its own kernel W[c*r*r + a*r + b], so with random weights neighbouring
output pixels get different gains: a constant input comes out as a checkerboard.
**ICNR** (Aitken et al., 2017, "Checkerboard artifact free sub-pixel convolution") starts all
r*r phases of a channel from the same kernel W0[c] (and the same bias). Then

    y = nearest_upsample(conv(x, W0))        (convolve at low resolution, then copy)
      = conv(nearest_upsample(x), W0 dilated by r)   (copy first, then a dilated conv)

which is free of checkerboard at initialisation; training may still pull the phases apart
(``tinyunet.lab.checkerboard`` measures by how much).

The kernel of phase (a, b) of channel c sits at row ``c*r*r + a*r + b`` of W, so ICNR must
*repeat* each kernel r*r times in place (``np.repeat(W0, r*r, axis=0)``: W0[0], W0[0], ...,
W0[1], ...), not *tile* the whole stack (``np.tile``: W0[0], W0[1], ..., W0[0], ...). Tiling
is right only for one output channel, which is why the bug survives single-channel tests.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle
from ..tensor import Tensor
from . import init
from .conv import Conv2d
from .module import Module


class PixelShuffle(Module):
    """``PixelShuffle(upscale_factor)``: (N, C*r*r, H, W) -> (N, C, H*r, W*r), as PyTorch."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``PixelUnshuffle(downscale_factor)``: (N, C, H*r, W*r) -> (N, C*r*r, H, W)."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


def _default_init(tensor):
    """Conv2d's own default: U(-b, b), b = 1 / sqrt(fan_in)."""
    return init.kaiming_uniform_(tensor, a=math.sqrt(5))


def icnr_(tensor, upscale_factor: int = 2, init_fn=None):
    """Fill a sub-pixel conv weight (C*r*r, C_in, kH, kW) in place so that all r*r phases of
    each output channel share one kernel: draw W0 (C, C_in, kH, kW) with ``init_fn`` (default:
    Conv2d's initialisation, which has the same fan_in) and set W[c*r*r + p] = W0[c]."""
    r = upscale_factor
    shape = tuple(tensor.shape)
    if len(shape) != 4 or shape[0] % (r * r):
        raise ValueError(f"icnr_: expects a conv weight (C*r*r, C_in, kH, kW) with r = {r}, so "
                         f"its first dimension must be divisible by {r * r}; got shape {shape}")
    data = tensor.data if isinstance(tensor, Tensor) else tensor
    base = np.zeros((shape[0] // (r * r),) + shape[1:], dtype=data.dtype)
    (init_fn or _default_init)(base)
    data[...] = np.repeat(base, r * r, axis=0)  # W0[0] x r*r, W0[1] x r*r, ...
    return tensor


class SubPixelUpsample(Module):
    """``SubPixelUpsample(in_channels, out_channels, scale_factor=2, kernel_size=3,
    bias=True, icnr=True)``: a 'same' conv to out_channels * r*r maps, then PixelShuffle(r).

    With ``icnr=True`` (the default) the weight is ICNR-initialised and the bias made equal
    across the phases of each channel, so the layer starts as nearest_upsample(conv(x, W0));
    ``icnr=False`` keeps Conv2d's independent random phases (the checkerboard-prone start).
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2,
                 kernel_size: int = 3, bias: bool = True, icnr: bool = True):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"SubPixelUpsample: kernel_size must be odd (a 'same' conv), got "
                             f"{kernel_size}")
        r = scale_factor
        self.scale_factor, self.icnr = r, icnr
        self.conv = Conv2d(in_channels, out_channels * r * r, kernel_size,
                           padding=kernel_size // 2, bias=bias)
        self.shuffle = PixelShuffle(r)
        if icnr:
            icnr_(self.conv.weight, r)
            if bias:  # one bias per channel, repeated over its phases
                b = self.conv.bias.data
                b[...] = np.repeat(b[:: r * r], r * r)

    def forward(self, x):
        return self.shuffle(self.conv(x))

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, icnr={self.icnr}"
