"""Layers without weights that change the spatial size: MaxPool2d, AvgPool2d, Upsample.

Thin Modules over ``tinyunet.ops.pool`` and ``tinyunet.ops.interpolate`` with PyTorch's
constructor arguments. Options PyTorch has and tinyunet does not (dilated or ceil-mode
pooling) are accepted at their defaults and refused otherwise, so ported code fails loudly.
"""

from __future__ import annotations

from ..ops.interpolate import interpolate
from ..ops.pool import avg_pool2d, max_pool2d
from .module import Module


def _refuse(layer, **options):
    for name, (value, default) in options.items():
        if value != default:
            raise NotImplementedError(f"{layer}: {name}={value!r} is not supported "
                                      f"(only {default!r})")


class MaxPool2d(Module):
    """``MaxPool2d(kernel_size, stride=None, padding=0)``: the U-Net's 2x2 downsampling;
    ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        _refuse("MaxPool2d", dilation=(dilation, 1), ceil_mode=(ceil_mode, False))
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """``AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True)``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        _refuse("AvgPool2d", ceil_mode=(ceil_mode, False),
                divisor_override=(divisor_override, None))
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                          self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Upsample(Module):
    """``Upsample(size=None, scale_factor=None, mode="nearest", align_corners=None)``: the
    fixed (weightless) alternative to a ConvTranspose2d in the U-Net's decoder."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        _refuse("Upsample", recompute_scale_factor=(recompute_scale_factor, None))
        self.size, self.mode, self.align_corners = size, mode, align_corners
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
