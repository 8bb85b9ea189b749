"""Conv3d and ConvTranspose3d layers: a weight, a bias, and the hyper-parameters of the op.

The arithmetic lives in ``tinyunet.ops.conv3d``. Constructor arguments, attribute names,
``state_dict`` keys, weight layouts and initialisation are PyTorch's::

    Conv3d           weight (C_out, C_in/groups, kD, kH, kW)
    ConvTranspose3d  weight (C_in, C_out/groups, kD, kH, kW)

both drawn from ``kaiming_uniform_(a=sqrt(5))`` (U(-b, b), b = 1/sqrt(fan_in), fan_in =
weight.shape[1] * kD kH kW) and the bias from U(-b, b) with the same b.
"""

from __future__ import annotations

import math

from ..ops.conv3d import conv3d, conv_transpose3d, conv_transpose3d_output_size
from . import init
from .module import Module, Parameter, _empty


def _triple(value):
    """PyTorch stores sizes as (d, h, w) tuples; a padding may also be "same" or "valid"."""
    if isinstance(value, str):
        return value
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * 3


class _Conv3d(Module):
    """What Conv3d and ConvTranspose3d share: storage, initialisation and printing."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, padding_mode, transposed, device, dtype):
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not "
                                      "supported (only 'zeros')")
        if in_channels < 1 or out_channels < 1 or groups < 1:
            raise ValueError(f"{name}: in_channels ({in_channels}), out_channels "
                             f"({out_channels}) and groups ({groups}) must be positive")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels ({in_channels}) "
                             f"and out_channels ({out_channels})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _triple(kernel_size), _triple(stride)
        self.padding, self.dilation = _triple(padding), _triple(dilation)
        self.output_padding, self.groups = _triple(output_padding), groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(_empty(shape, device, dtype))
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
        for name, default in (("padding", (0, 0, 0)), ("dilation", (1, 1, 1)),
                              ("output_padding", (0, 0, 0)), ("groups", 1)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + (", bias=False" if self.bias is None else "")


class Conv3d(_Conv3d):
    """``Conv3d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode="zeros")``: the 3-D U-Net's 3x3x3 convolution;
    ``padding`` may be "same" or "valid"."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, padding_mode, False, device, dtype)

    def forward(self, x):
        return conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class ConvTranspose3d(_Conv3d):
    """``ConvTranspose3d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros")``: the 3-D
    U-Net's learnable up-convolution (kernel 2, stride 2 doubles every side)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose3d: padding must be an int or a triple of ints, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         output_padding, groups, bias, padding_mode, True, device, dtype)

    def forward(self, x, output_size=None):
        """``output_size`` (e.g. the skip tensor's shape) picks the output_padding that
        reaches it, as in PyTorch."""
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding(x, tuple(output_size)[-3:])
        return conv_transpose3d(x, self.weight, self.bias, self.stride, self.padding,
                                output_padding, self.groups, self.dilation)

    def _output_padding(self, x, target):
        natural = conv_transpose3d_output_size(tuple(x.shape[-3:]), self.kernel_size,
                                               self.stride, self.padding, 0, self.dilation)
        extra = tuple(t - n for t, n in zip(target, natural))
        limit = tuple(max(s, d) for s, d in zip(self.stride, self.dilation))
        if any(not 0 <= e < m for e, m in zip(extra, limit)):
            largest = tuple(n + m - 1 for n, m in zip(natural, limit))
            raise ValueError(f"ConvTranspose3d: output_size {target} cannot be reached from "
                             f"input of shape {tuple(x.shape)}: the output is between "
                             f"{natural} and {largest}")
        return extra
