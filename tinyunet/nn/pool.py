"""Layers without weights that change the spatial size: MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d, Upsample.

Thin Modules over ``tinyunet.ops.pool``, ``ops.avg_pool`` and ``ops.interpolate`` with
PyTorch's constructor arguments, in PyTorch's order (MaxPool2d takes ``return_indices`` before
``ceil_mode``, unlike ``F.max_pool2d``), stored under PyTorch's attribute names.
"""

from __future__ import annotations

from ..ops.avg_pool import adaptive_avg_pool2d, avg_pool2d
from ..ops.interpolate import interpolate
from ..ops.pool import max_pool2d
from .module import Module


class _MaxPoolNd(Module):
    """What MaxPool2d and MaxPool3d share (PyTorch's ``_MaxPoolNd``): the arguments, stored
    under PyTorch's names, and the printing. ``stride`` defaults to ``kernel_size``
    (non-overlapping windows); ``return_indices=True`` makes the layer return ``(y, indices)``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):
    """``MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
    ceil_mode=False)``: the U-Net's 2x2 downsampling; ``stride`` defaults to
    ``kernel_size``. See ``tinyunet.ops.pool.max_pool2d`` for the output size."""

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)


class AvgPool2d(Module):
    """``AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None)``; see ``ops.avg_pool.avg_pool2d``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """``AdaptiveAvgPool2d(output_size)``: (N, C, H, W) -> (N, C, *output_size) whatever H
    and W; ``AdaptiveAvgPool2d(1)`` is a classifier's global average pool."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Upsample(Module):
    """``Upsample(size=None, scale_factor=None, mode="nearest", align_corners=None,
    recompute_scale_factor=None)``: the fixed (weightless) alternative to a ConvTranspose2d
    in the U-Net's decoder; see ``ops.interpolate.interpolate`` for the modes."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
