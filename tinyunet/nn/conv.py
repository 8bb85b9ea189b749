"""Conv2d and ConvTranspose2d layers: a weight, a bias, and the hyper-parameters of the op.

The arithmetic lives in ``tinyunet.ops.conv``; a layer owns its Parameters and initialises
them as PyTorch does, ``kaiming_uniform_(a=sqrt(5))`` for the weight (U(-b, b) with
b = 1/sqrt(fan_in)) and U(-b, b) for the bias with the same b. Weight layouts are PyTorch's:

    Conv2d           (C_out, C_in / groups, kH, kW)
    ConvTranspose2d  (C_in, C_out / groups, kH, kW)   (so its fan_in, from dim 1, counts C_out)

Conv2d's ``padding_mode`` other than "zeros" ("reflect", "replicate", "circular") pads the
input with ``F.pad`` in that mode first and then convolves without padding, as PyTorch does:
the border sees mirrored, repeated or wrapped-around pixels instead of zeros.
"""

from __future__ import annotations

import math

from ..ops.conv import conv2d, conv_transpose2d, conv_transpose2d_output_size
from ..ops.conv_shapes import same_padding
from ..ops.pad import pad
from . import init
from .module import Module, Parameter, _empty

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value, n: int):
    """PyTorch stores sizes as n-tuples, (h, w) or (d, h, w); a padding may also be "same" or
    "valid"."""
    if isinstance(value, str):
        return value
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _ConvNd(Module):
    """What the convolutions and transposed convolutions of every dimension share (PyTorch's
    ``_ConvNd``): the checks, the weight and bias, their initialisation and the printing.
    ``dims`` is the number of spatial dimensions: 2 here, 3 in ``nn/conv3d.py``."""

    dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, padding_mode, transposed, device, dtype):
        super().__init__()
        name = type(self).__name__
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be positive")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        n = self.dims
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _ntuple(kernel_size, n), _ntuple(stride, n)
        self.padding, self.dilation = _ntuple(padding, n), _ntuple(dilation, n)
        if self.padding == "same" and self.stride != (1,) * n:
            raise ValueError(f"{name}: padding='same' is not supported for strided "
                             f"convolutions (stride={self.stride})")
        self.output_padding = _ntuple(output_padding, n)
        self.groups, self.padding_mode = groups, padding_mode
        channels = ((in_channels, out_channels // groups) if transposed
                    else (out_channels, in_channels // groups))
        self.weight = Parameter(_empty((*channels, *self.kernel_size), device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_channels,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        n = self.dims
        for name, default in (("padding", (0,) * n), ("dilation", (1,) * n),
                              ("output_padding", (0,) * n), ("groups", 1)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _output_padding(self, x, natural, output_size):
        """The output_padding that takes a transposed conv from its ``natural`` output size
        (output_padding 0) to ``output_size``, as PyTorch picks it: each axis may add up to
        max(stride, dilation) - 1."""
        target = tuple(output_size)[-self.dims:]
        extra = tuple(t - n for t, n in zip(target, natural))
        limit = tuple(max(s, d) for s, d in zip(self.stride, self.dilation))
        if any(not 0 <= e < m for e, m in zip(extra, limit)):
            largest = tuple(n + m - 1 for n, m in zip(natural, limit))
            raise ValueError(f"{type(self).__name__}: output_size {target} cannot be reached "
                             f"from input of shape {tuple(x.shape)}: the output is between "
                             f"{natural} and {largest}")
        return extra


class Conv2d(_ConvNd):
    """``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode="zeros")``; ``padding`` may be "same" or "valid";
    ``padding_mode`` is "zeros", "reflect", "replicate" or "circular"."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         0, groups, bias, padding_mode, False, device, dtype)

    def forward(self, x):
        if self.padding_mode == "zeros":
            return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                          self.groups)
        return conv2d(pad(x, self._pad_widths(), mode=self.padding_mode), self.weight,
                      self.bias, self.stride, 0, self.dilation, self.groups)

    def _pad_widths(self):
        """F.pad's (left, right, top, bottom) for this layer's padding."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            (ph, pw), (eh, ew) = same_padding(type(self).__name__, self.kernel_size,
                                              self.stride, self.dilation)
            return (pw, pw + ew, ph, ph + eh)  # an odd total: the extra row at the bottom
        ph, pw = self.padding
        return (pw, pw, ph, ph)


class ConvTranspose2d(_ConvNd):
    """``ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros")``: the U-Net's
    learnable up-convolution (kernel 2, stride 2 doubles the size)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair of ints, got "
                             f"{padding!r}")
        if padding_mode != "zeros":
            raise ValueError(f'ConvTranspose2d: only padding_mode "zeros" is supported (as in '
                             f"PyTorch), got {padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         output_padding, groups, bias, padding_mode, True, device, dtype)

    def forward(self, x, output_size=None):
        """``output_size`` (e.g. the skip tensor's shape) picks the output_padding that
        reaches it, as in PyTorch: the way to undo a pooling of an odd-sized map."""
        output_padding = self.output_padding
        if output_size is not None:
            natural = conv_transpose2d_output_size(tuple(x.shape[-2:]), self.kernel_size,
                                                   self.stride, self.padding, 0, self.dilation)
            output_padding = self._output_padding(x, natural, output_size)
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                output_padding, self.groups, self.dilation)
