"""interpolate: resize the spatial dims of (N, C, L), (N, C, H, W) or (N, C, D, H, W), as
``torch.nn.functional.interpolate``.

Modes: ``"nearest"`` copies the pixel at ``floor(dst * scale)``; ``"nearest-exact"`` the one
at ``floor((dst + 0.5) * scale)`` (centred: halving reads pixels 1, 3, 5, ... not 0, 2, 4);
``"linear"``, ``"bilinear"``, ``"trilinear"`` blend the 2, 4 or 8 nearest pixels (one mode per
rank: 3-D, 4-D, 5-D inputs); ``"bicubic"`` blends 4 x 4 pixels with Keys' cubic kernel (4-D);
``"area"`` averages the input pixels under each output pixel (``adaptive_avg_pool2d``). The
U-Net's decoder can use any of them, followed by a conv, instead of a transposed conv.

Every mode is *separable*: output row i reads input rows that depend only on i, and likewise
for each axis. So the 2-D kernels (``tinyunet.kernels.*.interpolate``, and ``pool``'s adaptive
average) do all the work: a 1-D input is an image of height 1, and a 3-D one takes two 2-D
passes, first over (H, W) with D folded into the channels, then over D with the (H, W) plane
flattened into an unchanged axis (its weights are exactly 1 and 0).

The op layer does what PyTorch does before calling its kernel: it works out the output size
(``size``, or ``floor(in * scale_factor)``) and the per-axis ``scale`` that maps output
coordinates back into the input -- ``in / out``, or ``1 / scale_factor`` when the user gave
one and did not ask to ``recompute_scale_factor`` -- with PyTorch's shortcuts (``_scale``),
so the kernels reproduce PyTorch's pixels exactly.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from .. import backend
from ..function import Function
from ..tensor import Tensor
from .avg_pool import adaptive_avg_pool2d

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
BLENDING = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}  # mode: its input rank


class UpsampleNearest2d(Function):
    """y[i, j] = x[src(i), src(j)];  dL/dx[src] += dL/dy (every copy sends its gradient home)."""

    @staticmethod
    def forward(ctx, x, size=(1, 1), scales=(1.0, 1.0), exact=False):
        ctx.input_shape, ctx.scales, ctx.exact = x.shape, scales, exact
        return backend.kernels(x).upsample_nearest2d(x, size, scales, exact)

    @staticmethod
    def backward(ctx, grad):
        return backend.kernels(grad).upsample_nearest2d_backward(
            grad, ctx.input_shape, ctx.scales, ctx.exact)


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


class UpsampleBicubic2d(Function):
    """y = weighted sum of 16 taps;  each tap gets dL/dy times its weight back."""

    @staticmethod
    def forward(ctx, x, size=(1, 1), align_corners=False, scales=(1.0, 1.0)):
        ctx.input_shape, ctx.align_corners, ctx.scales = x.shape, align_corners, scales
        return backend.kernels(x).upsample_bicubic2d(x, size, align_corners, scales)

    @staticmethod
    def backward(ctx, grad):
        return backend.kernels(grad).upsample_bicubic2d_backward(
            grad, ctx.input_shape, ctx.align_corners, ctx.scales)


def _per_axis(value, name, kind, dims):
    """A number or a sequence of ``dims`` numbers as a ``dims``-tuple."""
    values = (value,) * dims if isinstance(value, kind) else tuple(value)
    if len(values) != dims or not all(isinstance(v, kind) for v in values):
        raise TypeError(f"interpolate: {name} must be a number or a sequence of {dims} numbers "
                        f"for a {dims + 2}-D input, got {value!r}")
    return values


def _scale(in_size, out_size, factor, mode, dims):
    """The kernel's ``scale`` along one axis: the one PyTorch's CPU kernels end up using.

    PyTorch's 2-D nearest kernel (only it, not the 1-D or 3-D ones) copies an unchanged axis
    and halves the index of a doubled one, whatever the factor; its (bi/tri)linear kernels
    copy an unchanged axis in every rank; nearest-exact and bicubic never take a shortcut.
    """
    nearest = mode in ("nearest", "nearest-exact")
    shortcuts = mode not in ("nearest-exact", "bicubic") and (dims == 2 or not nearest)
    if shortcuts and out_size == in_size:
        return 1.0                  # copy the axis
    if shortcuts and nearest and out_size == 2 * in_size:
        return 0.5                  # src = dst // 2
    if factor is not None:
        return 1.0 / factor         # the user's factor, not in / out
    if nearest:
        return float(np.float32(in_size) / np.float32(out_size))  # nearest divides in float32
    return in_size / out_size


def _sizes_and_scales(in_size, size, scale_factor, mode, recompute_scale_factor=None):
    """Output sizes and the kernel's per-axis scales, chosen as PyTorch chooses them."""
    dims = len(in_size)
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an "
                             "explicit size")
        out = tuple(int(n) for n in _per_axis(size, "size", (int, np.integer), dims))
        factors = (None,) * dims
    else:
        factors = tuple(float(f) for f in _per_axis(scale_factor, "scale_factor", Real, dims))
        if min(factors) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor}")
        out = tuple(int(math.floor(i * f)) for i, f in zip(in_size, factors))
        if recompute_scale_factor or (recompute_scale_factor is None and mode == "area"):
            factors = (None,) * dims   # as if the user had asked for this size
    if min(out) < 1:
        raise ValueError(f"interpolate: input and output sizes must be positive, but the input "
                         f"{tuple(in_size)} gives the output {out}")
    return out, tuple(_scale(i, o, f, mode, dims) for i, o, f in zip(in_size, out, factors))


def _resize2d(x, out, scales, mode, align_corners):
    """One 2-D pass of ``mode``: (N, C, H, W) -> (N, C, *out)."""
    if mode in ("nearest", "nearest-exact"):
        return UpsampleNearest2d.apply(x, size=out, scales=scales, exact=mode == "nearest-exact")
    if mode == "area":
        return adaptive_avg_pool2d(x, out)
    if mode == "bicubic":
        return UpsampleBicubic2d.apply(x, size=out, align_corners=align_corners, scales=scales)
    return UpsampleBilinear2d.apply(x, size=out, align_corners=align_corners, scales=scales)


def _check(x, mode, align_corners, antialias):
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got "
                         f"shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating-point input, got dtype {x.dtype}")
    if mode not in MODES:
        raise ValueError(f"interpolate: unknown mode {mode!r}; the modes are {MODES}")
    if mode in BLENDING and BLENDING[mode] != x.ndim:
        raise ValueError(f"interpolate: mode={mode!r} needs a {BLENDING[mode]}-D input, got "
                         f"shape {x.shape} (linear: 3-D, bilinear: 4-D, trilinear: 5-D)")
    if mode not in BLENDING and align_corners is not None:
        raise ValueError(f"interpolate: align_corners can only be set with the blending modes "
                         f"linear, bilinear, bicubic, trilinear (got mode={mode!r}, "
                         f"align_corners={align_corners})")
    if antialias and (mode not in ("bilinear", "bicubic") or x.ndim != 4):
        raise ValueError("interpolate: antialias is only defined for modes 'bilinear' and "
                         f"'bicubic' on a 4-D input (got mode={mode!r}, shape {x.shape})")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported (it low-pass "
                                  "filters before shrinking); only antialias=False")
    if min(x.shape[1:]) < 1:
        raise ValueError(f"interpolate: only the batch dimension may be empty, got input shape "
                         f"{x.shape}")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of ``x`` to ``size`` or by ``scale_factor`` (exactly one).

    ``size`` and ``scale_factor`` are a number or one per spatial axis; the output has
    ``size``, or ``floor(in * scale_factor)`` pixels per axis. ``align_corners`` is for the
    blending modes only (default False, as in PyTorch): False treats pixels as unit squares,
    the source coordinate of output pixel i being ``(i + 0.5) * scale - 0.5`` (clamped to the
    edge); True pins the centres of the corner pixels of input and output together,
    ``i * (in - 1) / (out - 1)``. ``recompute_scale_factor=True`` makes ``scale_factor`` only
    choose the output size and then uses ``scale = in / out`` (the default for ``"area"``;
    otherwise ``1 / scale_factor`` itself maps the coordinates). ``antialias=True`` (a
    low-pass filter before shrinking) is refused with NotImplementedError.
    """
    x = Tensor._lift(input)
    _check(x, mode, align_corners, antialias)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r}, scale_factor={scale_factor!r}")
    out, scales = _sizes_and_scales(x.shape[2:], size, scale_factor, mode,
                                    recompute_scale_factor)
    corners = bool(align_corners)
    N, C = x.shape[:2]
    if x.ndim == 3:  # (N, C, L) is an image of height 1
        y = _resize2d(x.reshape(N, C, 1, x.shape[2]), (1, out[0]), (1.0, scales[0]), mode,
                      corners)
        return y.reshape(N, C, out[0])
    if x.ndim == 4:
        return _resize2d(x, out, scales, mode, corners)
    D, H, W = x.shape[2:]
    planes = _resize2d(x.reshape(N, C * D, H, W), out[1:], scales[1:], mode, corners)
    flat = planes.reshape(N, C, D, out[1] * out[2])   # the (H, W) plane as one axis
    y = _resize2d(flat, (out[0], out[1] * out[2]), (scales[0], 1.0), mode, corners)
    return y.reshape(N, C, *out)
