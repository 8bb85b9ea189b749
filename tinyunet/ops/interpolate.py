"""interpolate: resize the spatial dims of (N, C, H, W), as ``torch.nn.functional.interpolate``.

Modes ``"nearest"`` (copy the nearest pixel) and ``"bilinear"`` (blend the 2 x 2 nearest
pixels); the U-Net's decoder can use either, followed by a conv, instead of a transposed conv.
The op layer does what PyTorch does before calling its kernel: it works out the output size
(``size``, or ``floor(in * scale_factor)``) and the per-axis ``scale`` that maps output
coordinates back into the input -- ``in / out``, or ``1 / scale_factor`` when the user gave
one, with PyTorch's shortcuts (``_scale``) -- so the kernels (``tinyunet.kernels.*.interpolate``)
reproduce PyTorch's pixels exactly.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from .. import backend
from ..function import Function
from ..tensor import Tensor

MODES = ("nearest", "bilinear")


class UpsampleNearest2d(Function):
    """y[i, j] = x[src(i), src(j)];  dL/dx[src] += dL/dy (every copy sends its gradient home)."""

    @staticmethod
    def forward(ctx, x, size=(1, 1), scales=(1.0, 1.0)):
        ctx.input_shape, ctx.scales = x.shape, scales
        return backend.kernels(x).upsample_nearest2d(x, size, scales)

    @staticmethod
    def backward(ctx, grad):
        return backend.kernels(grad).upsample_nearest2d_backward(grad, ctx.input_shape, ctx.scales)


class UpsampleBilinear2d(Function):
    """y = weighted sum of 4 neighbours;  each neighbour gets dL/dy times its weight back."""

    @staticmethod
    def forward(ctx, x, size=(1, 1), align_corners=False, scales=(1.0, 1.0)):
        ctx.input_shape, ctx.align_corners, ctx.scales = x.shape, align_corners, scales
        return backend.kernels(x).upsample_bilinear2d(x, size, align_corners, scales)

    @staticmethod
    def backward(ctx, grad):
        return backend.kernels(grad).upsample_bilinear2d_backward(
            grad, ctx.input_shape, ctx.align_corners, ctx.scales)


def _pair(value, name, kind):
    pair = (value, value) if isinstance(value, kind) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, kind) for v in pair):
        raise TypeError(f"interpolate: {name} must be a number or a pair of numbers for a "
                        f"4-D input, got {value!r}")
    return pair


def _scale(in_size, out_size, factor, mode):
    """The kernel's ``scale`` along one axis: the one PyTorch's CPU kernels end up using."""
    if out_size == in_size:
        return 1.0                  # PyTorch copies an axis whose size does not change
    if mode == "nearest" and out_size == 2 * in_size:
        return 0.5                  # PyTorch's nearest shortcut: src = dst // 2
    if factor is not None:
        return 1.0 / factor         # the user's factor, not in / out (recompute_scale_factor unset)
    if mode == "nearest":
        return float(np.float32(in_size) / np.float32(out_size))  # nearest divides in float32
    return in_size / out_size


def _sizes_and_scales(in_size, size, scale_factor, mode):
    """Output (H, W) and the kernel's (scale_H, scale_W), chosen as PyTorch chooses them."""
    if size is not None:
        out = tuple(int(n) for n in _pair(size, "size", (int, np.integer)))
        factors = (None, None)
    else:
        factors = tuple(float(f) for f in _pair(scale_factor, "scale_factor", Real))
        if min(factors) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor}")
        out = tuple(int(math.floor(i * f)) for i, f in zip(in_size, factors))
    if min(out) < 1:
        raise ValueError(f"interpolate: input and output sizes must be positive, but the input "
                         f"(H, W) = {tuple(in_size)} gives the output (H, W) = {out}")
    return out, tuple(_scale(i, o, f, mode) for i, o, f in zip(in_size, out, factors))


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize (N, C, H, W) to ``size`` or by ``scale_factor`` (exactly one of them).

    ``align_corners`` is for ``"bilinear"`` only (default False, as in PyTorch): False treats
    pixels as unit squares (out-of-range sample points clamp to the edge); True pins the
    centres of the corner pixels of input and output together.
    """
    x = Tensor._lift(x)
    if x.ndim != 4:
        raise ValueError(f"interpolate: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating-point input, got dtype {x.dtype}")
    if mode not in MODES:
        raise ValueError(f"interpolate: unknown mode {mode!r}; supported modes are {MODES}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r}, scale_factor={scale_factor!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with mode='bilinear' "
                         f"(got mode='nearest', align_corners={align_corners})")
    out, scales = _sizes_and_scales(x.shape[2:], size, scale_factor, mode)
    if mode == "nearest":
        return UpsampleNearest2d.apply(x, size=out, scales=scales)
    return UpsampleBilinear2d.apply(x, size=out, align_corners=bool(align_corners),
                                    scales=scales)
