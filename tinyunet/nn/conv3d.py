"""Conv3d and ConvTranspose3d layers: a weight, a bias, and the hyper-parameters of the op.

The arithmetic lives in ``tinyunet.ops.conv3d``. Constructor arguments, attribute names,
``state_dict`` keys, weight layouts and initialisation are PyTorch's::

    Conv3d           weight (C_out, C_in/groups, kD, kH, kW)
    ConvTranspose3d  weight (C_in, C_out/groups, kD, kH, kW)

both drawn from ``kaiming_uniform_(a=sqrt(5))`` (U(-b, b), b = 1/sqrt(fan_in), fan_in =
weight.shape[1] * kD kH kW) and the bias from U(-b, b) with the same b: the checks, storage,
initialisation and printing are ``Conv2d``'s (``nn/conv.py``'s ``_ConvNd``, with ``dims = 3``).
"""

from __future__ import annotations

from ..ops.conv3d import conv3d, conv_transpose3d, conv_transpose3d_output_size
from .conv import _ConvNd


def _zeros_only(name, padding_mode):
    if padding_mode != "zeros":
        raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not supported "
                                  "(only 'zeros')")


class Conv3d(_ConvNd):
    """``Conv3d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode="zeros")``: the 3-D U-Net's 3x3x3 convolution;
    ``padding`` may be "same" or "valid"."""

    dims = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        _zeros_only("Conv3d", padding_mode)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, padding_mode, False, device, dtype)

    def forward(self, x):
        return conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class ConvTranspose3d(_ConvNd):
    """``ConvTranspose3d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros")``: the 3-D
    U-Net's learnable up-convolution (kernel 2, stride 2 doubles every side)."""

    dims = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose3d: padding must be an int or a triple of ints, got "
                             f"{padding!r}")
        _zeros_only("ConvTranspose3d", padding_mode)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         output_padding, groups, bias, padding_mode, True, device, dtype)

    def forward(self, x, output_size=None):
        """``output_size`` (e.g. the skip tensor's shape) picks the output_padding that
        reaches it, as in PyTorch."""
        output_padding = self.output_padding
        if output_size is not None:
            natural = conv_transpose3d_output_size(tuple(x.shape[-3:]), self.kernel_size,
                                                   self.stride, self.padding, 0, self.dilation)
            output_padding = self._output_padding(x, natural, output_size)
        return conv_transpose3d(x, self.weight, self.bias, self.stride, self.padding,
                                output_padding, self.groups, self.dilation)
