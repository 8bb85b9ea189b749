"""pixel_shuffle and pixel_unshuffle: trade channels for resolution, as in PyTorch.

Sub-pixel convolution (Shi et al., 2016) upsamples by computing, at low resolution, r*r
output maps per channel -- one for each *phase* (a, b) of an r x r block -- and then
interleaving them into an image r times larger::

    y[n, c, r*i + a, r*j + b] = x[n, c*r*r + a*r + b, i, j]        a, b in [0, r)

so input channel ``c*r*r + a*r + b`` becomes phase (a, b) of output channel c (PyTorch's
ordering: the phases of one output channel are neighbours along the channel axis).
``pixel_unshuffle`` is the exact inverse. Both only move elements, so each one's backward is
the other one: a gradient goes back to where its value came from.
"""

from __future__ import annotations

from ..function import Function
from ..tensor import Tensor


def _shuffle(x, r):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r): split the channel axis into (C, a, b), then
    move a next to H and b next to W."""
    *batch, Crr, H, W = x.shape
    C = Crr // (r * r)
    lead = len(batch)
    x = x.reshape(*batch, C, r, r, H, W)                      # (*, C, a, b, H, W)
    order = tuple(range(lead)) + tuple(lead + d for d in (0, 3, 1, 4, 2))
    return x.transpose(order).reshape(*batch, C, H * r, W * r)  # (*, C, H, a, W, b)


def _unshuffle(y, r):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W): the inverse of ``_shuffle``."""
    *batch, C, Hr, Wr = y.shape
    H, W = Hr // r, Wr // r
    lead = len(batch)
    y = y.reshape(*batch, C, H, r, W, r)                      # (*, C, H, a, W, b)
    order = tuple(range(lead)) + tuple(lead + d for d in (0, 2, 4, 1, 3))
    return y.transpose(order).reshape(*batch, C * r * r, H, W)  # (*, C, a, b, H, W)


class PixelShuffle(Function):
    @staticmethod
    def forward(ctx, x, upscale_factor=2):
        ctx.r = upscale_factor
        return _shuffle(x, upscale_factor)

    @staticmethod
    def backward(ctx, grad):
        return _unshuffle(grad, ctx.r)


class PixelUnshuffle(Function):
    @staticmethod
    def forward(ctx, y, downscale_factor=2):
        ctx.r = downscale_factor
        return _unshuffle(y, downscale_factor)

    @staticmethod
    def backward(ctx, grad):
        return _shuffle(grad, ctx.r)


def _check_factor(op, name, r):
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {r!r}")


def pixel_shuffle(input, upscale_factor: int) -> Tensor:
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), r = ``upscale_factor``; see the module docstring."""
    op = "pixel_shuffle"
    x = Tensor._lift(input)
    _check_factor(op, "upscale_factor", upscale_factor)
    r = upscale_factor
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C, H, W), got shape "
                         f"{x.shape}")
    if x.shape[-3] % (r * r):
        raise ValueError(f"{op}: input of shape {x.shape} has {x.shape[-3]} channels, which is "
                         f"not divisible by upscale_factor^2 = {r * r}")
    return PixelShuffle.apply(x, upscale_factor=r)


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), r = ``downscale_factor``: the inverse shuffle."""
    op = "pixel_unshuffle"
    x = Tensor._lift(input)
    _check_factor(op, "downscale_factor", downscale_factor)
    r = downscale_factor
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C, H, W), got shape "
                         f"{x.shape}")
    if x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"{op}: input of shape {x.shape} has spatial size "
                         f"{tuple(x.shape[-2:])}, which is not divisible by downscale_factor "
                         f"{r}")
    return PixelUnshuffle.apply(x, downscale_factor=r)
