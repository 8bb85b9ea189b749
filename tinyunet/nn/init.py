"""Weight initialisation, as ``torch.nn.init``: fill a Tensor in place, return it.

Why the scale matters: a layer computes y = sum over fan_in inputs of w x. With independent
zero-mean weights of variance s^2, Var(y) = fan_in s^2 Var(x), so a deep stack explodes or
vanishes unless s^2 ~ 1 / fan_in. The schemes differ in the constant:

    xavier (Glorot):  s^2 = gain^2 * 2 / (fan_in + fan_out)   keeps forward and backward variance
    kaiming (He):     s^2 = gain^2 / fan                     gain^2 = 2 for ReLU (it zeroes half)

A uniform distribution on [-b, b] has variance b^2 / 3, hence the sqrt(3) in the bounds.
For a conv weight (C_out, C_in, kH, kW): fan_in = C_in kH kW and fan_out = C_out kH kW.

Every draw comes from ``tinyunet.random.generator()``, so ``tu.manual_seed(n)`` fixes it.
"""

from __future__ import annotations

import math

import numpy as np

from ..random import generator
from ..tensor import Tensor


def _fill(tensor, values):
    data = tensor.data if isinstance(tensor, Tensor) else tensor
    data[...] = values  # in place, keeping the tensor's dtype
    return tensor


def _shape(tensor):
    return tuple(tensor.shape)


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor by which a nonlinearity shrinks the standard deviation, to undo in init."""
    linear = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (torch's rule,
    which for a ConvTranspose2d weight (C_in, C_out, k, k) makes fan_in = C_out k k)."""
    shape = _shape(tensor)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape "
                         f"{shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported; use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Samples of U(a, b)."""
    return _fill(tensor, generator().uniform(a, b, _shape(tensor)))


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Samples of N(mean, std^2)."""
    return _fill(tensor, generator().normal(mean, std, _shape(tensor)))


def constant_(tensor, val: float):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain: float = 1.0):
    """U(-b, b) with b = gain sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain: float = 1.0):
    """N(0, s^2) with s = gain sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu"):
    """U(-b, b) with b = gain sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    PyTorch's layers call this with a = sqrt(5): gain^2 = 2 / 6, so b = 1 / sqrt(fan_in).
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu"):
    """N(0, s^2) with s = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def bilinear_kernel(size: int) -> np.ndarray:
    """The 1-D tent filter of length ``size`` that bilinear upsampling by f = ceil(size / 2)
    paints with: k[i] = 1 - |i - c| / f, centred at c = (size - 1) / 2."""
    factor = (size + 1) // 2
    center = (size - 1) / 2
    return 1 - np.abs(np.arange(size) - center) / factor


def bilinear_upsampling_(tensor):
    """Make a ConvTranspose2d weight (C, C, kH, kW) perform bilinear upsampling.

    The classic initialisation of a learnable up-convolution (FCN): channel c maps to
    channel c alone, through the outer product of two tent filters. With stride s, the
    transposed conv paints each input pixel as a tent of half-width s, which is what
    ``interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)`` computes away
    from the borders (where interpolate clamps and the conv sees zeros), provided

        s even:  kernel 2s,     padding s/2        (s = 2: kernel 4, padding 1)
        s odd:   kernel 2s - 1, padding (s - 1)/2

    (output size exactly s times the input). For s = 2 every output pixel mixes its two
    nearest inputs per axis with weights 3/4 and 1/4. Training can then move it away from
    bilinear.
    """
    shape = _shape(tensor)
    if len(shape) != 4 or shape[0] != shape[1]:
        raise ValueError(f"bilinear_upsampling_: expects a ConvTranspose2d weight (C, C, kH, kW) "
                         f"with as many input as output channels, got shape {shape}")
    C, _, kH, kW = shape
    weight = np.zeros(shape)
    weight[np.arange(C), np.arange(C)] = np.outer(bilinear_kernel(kH), bilinear_kernel(kW))
    return _fill(tensor, weight)
