"""The phase gain spread: an exact, cheap number for a layer's checkerboard.

An upsampler with stride s treats the output pixels of an s x s block differently: output
pixel (s*i + a, s*j + b) has *phase* (a, b). Feed it a constant input and, away from the
borders, every output pixel of phase (a, b) gets the same value, the phase's *gain*. For a
transposed conv it is the sum of the kernel taps that land on that phase::

    g[ci, co, a, b] = sum over m, n of  w[ci, co, a + s*m, b + s*n]

(padding p only relabels the phases, a -> (a - p) mod s). A sub-pixel conv has one conv
channel per (channel, phase), so g[ci, c, a, b] = sum of the taps of its kernel
W[c*s*s + a*s + b, ci]. A resize (nearest, bilinear), with or without a conv after it, has
equal gains by construction.

A constant input gives a constant output exactly when, for every channel pair (ci, co), the
s*s gains are equal. So the spread

    spread = || max_phase g - min_phase g || / || mean_phase g ||    (norms over (ci, co))

is zero exactly then; for one channel it is (max - min) / |mean|. It says nothing about the
coverage of the kernel: a kernel-4 stride-2 layer with random taps has equal coverage and
unequal gains. ``phase_gains`` reads the gains off the weights; ``measured_phase_gains``
measures them by running the layer on constant inputs (a check of the formula, and the way to
get them from any other layer).
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..grad_mode import no_grad
from ..nn.upsample import SubPixelUpsample
from ..tensor import Tensor


def transposed_phase_gains(weight: np.ndarray, stride: int) -> np.ndarray:
    """g[ci, co, a, b] = sum_{m, n} w[ci, co, a + s m, b + s n] for w (C_in, C_out, kH, kW)."""
    C_in, C_out, kH, kW = weight.shape
    s = stride
    gains = np.zeros((C_in, C_out, s, s))
    for a in range(s):
        for b in range(s):
            gains[:, :, a, b] = weight[:, :, a::s, b::s].sum(axis=(2, 3))
    return gains


def subpixel_phase_gains(weight: np.ndarray, upscale_factor: int) -> np.ndarray:
    """g[ci, c, a, b] = sum of W[c*r*r + a*r + b, ci] for a sub-pixel conv weight
    (C*r*r, C_in, k, k) followed by pixel_shuffle(r)."""
    r = upscale_factor
    Crr, C_in = weight.shape[:2]
    per_phase = weight.sum(axis=(2, 3)).reshape(Crr // (r * r), r, r, C_in)  # (c, a, b, ci)
    return per_phase.transpose(3, 0, 1, 2)


def measured_phase_gains(layer, in_channels: int, stride: int = 2, n: int = 12) -> np.ndarray:
    """Run ``layer`` on constant inputs, one channel at a time, and read each output phase's
    value in the interior (minus the response to zero, which is the bias)."""
    x = np.zeros((in_channels + 1, in_channels, n, n))
    for ci in range(in_channels):
        x[ci + 1, ci] = 1.0  # sample ci + 1: ones in channel ci, zeros elsewhere
    with no_grad():
        y = layer(Tensor(x)).data  # float64 in: the conv ops compute in the input's dtype
    y = y[1:] - y[:1]  # (C_in, C_out, sH, sW): the linear part only
    m = 2 * stride  # a margin past the border effects, a whole number of periods
    inner = y[:, :, m:-m, m:-m]
    gains = np.zeros(y.shape[:2] + (stride, stride))
    for a in range(stride):
        for b in range(stride):
            gains[:, :, a, b] = inner[:, :, a::stride, b::stride].mean(axis=(2, 3))
    return gains


def phase_gains(layer, in_channels: int | None = None) -> np.ndarray:
    """The gains (C_in, C_out, s, s) of an upsampling layer, from its weights when the
    formula is known (ConvTranspose2d, SubPixelUpsample), otherwise measured."""
    if isinstance(layer, nn.ConvTranspose2d):
        if layer.stride[0] != layer.stride[1]:
            raise ValueError(f"phase_gains: expects a square stride, got {layer.stride}")
        return transposed_phase_gains(layer.weight.data.astype(np.float64), layer.stride[0])
    if isinstance(layer, SubPixelUpsample):
        return subpixel_phase_gains(layer.conv.weight.data.astype(np.float64),
                                    layer.scale_factor)
    if in_channels is None:
        raise ValueError(f"phase_gains: a {type(layer).__name__} has no gain formula; pass "
                         "in_channels to measure its gains")
    return measured_phase_gains(layer, in_channels)


def phase_gain_spread(gains: np.ndarray) -> float:
    """||max_phase g - min_phase g|| / ||mean_phase g||, norms over the channel pairs."""
    flat = gains.reshape(gains.shape[0], gains.shape[1], -1)
    spread = np.linalg.norm(flat.max(axis=2) - flat.min(axis=2))
    scale = np.linalg.norm(flat.mean(axis=2))
    return float(spread / scale) if scale > 0 else float("inf") if spread > 0 else 0.0
