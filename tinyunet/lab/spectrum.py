"""The checkerboard in the frequency domain: the share of output energy at the Nyquist frequency.

Upsample a smooth input by 2. A good upsampler's output is smooth too; a checkerboard is a
pattern that flips sign every pixel, the highest frequency the output grid can hold (the
Nyquist frequency, half a cycle per pixel). Measured exactly:

* the input is periodic and band-limited: random Fourier coefficients at frequencies
  |u|, |v| <= B (cycles per period) only, on an S x S grid; then ``1 + 0.5 * field / std``,
  positive like the ReLU features a decoder upsamples;
* it is padded by wrapping around, upsampled, and one period (2S x 2S) is cut from the middle,
  clear of the zero-padded borders; a layer that is the same at every input shift (as all
  upsamplers here are) gives a periodic output, so the cut holds exactly one period;
* a linear upsampler by 2 maps frequency u of the input to u and to its images around the
  Nyquist frequency S of the output grid: in the output's spectrum the smooth signal sits
  within B of (0, 0) and the checkerboard within B of (S, 0), (0, S) and (S, S). The Nyquist
  share is the energy near those three points over the total; nothing else can be there.

Nearest upsampling leaks a little (its 2-pixel hold has a zero response exactly at Nyquist,
but not beside it); bilinear far less; a transposed or sub-pixel conv whose phase gains differ
puts a large share there.

``make_upsampler(name, c_in, c_out)`` builds the contestants; ``UPSAMPLERS`` lists them.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..grad_mode import no_grad
from ..nn.upsample import SubPixelUpsample
from ..tensor import Tensor

UPSAMPLERS = ("nearest", "bilinear", "resize_conv", "subpixel", "subpixel_icnr",
              "tconv_k2s2", "tconv_k4s2", "tconv_k3s2")

# (kernel, padding, output_padding) of each transposed conv: all give exactly twice the size
TRANSPOSED = {"tconv_k2s2": (2, 0, 0), "tconv_k4s2": (4, 1, 0), "tconv_k3s2": (3, 1, 1)}


def make_upsampler(name: str, in_channels: int, out_channels: int) -> nn.Module:
    """One upsampler by 2 from ``in_channels`` to ``out_channels`` (the resizes without a
    conv keep the channels, so they need in_channels == out_channels)."""
    if name in ("nearest", "bilinear"):
        if in_channels != out_channels:
            raise ValueError(f"make_upsampler: {name!r} has no weights and keeps the channels; "
                             f"got in_channels={in_channels}, out_channels={out_channels}")
        return nn.Upsample(scale_factor=2, mode=name,
                           align_corners=False if name == "bilinear" else None)
    if name == "resize_conv":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                             nn.Conv2d(in_channels, out_channels, 3, padding=1))
    if name in ("subpixel", "subpixel_icnr"):
        return SubPixelUpsample(in_channels, out_channels, 2, 3, icnr=name == "subpixel_icnr")
    if name in TRANSPOSED:
        k, p, op = TRANSPOSED[name]
        return nn.ConvTranspose2d(in_channels, out_channels, k, stride=2, padding=p,
                                  output_padding=op)
    raise ValueError(f"make_upsampler: unknown upsampler {name!r}; choose one of {UPSAMPLERS}")


def uniform_weights_(layer: nn.Module) -> nn.Module:
    """Give every conv in ``layer`` a constant kernel (and no bias): the layer then differs
    from its neighbours only in *where* its taps land, i.e. in its coverage. The constant is
    1 / (input channels x taps landing on an output pixel, on average), so a constant input
    keeps its level on average."""
    for m in layer.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            transposed = isinstance(m, nn.ConvTranspose2d)
            taps = m.weight.shape[2] * m.weight.shape[3]
            if transposed:  # a stride-s transposed conv lands k*k / s*s taps on a pixel
                taps /= m.stride[0] * m.stride[1]
            fan = m.weight.shape[0 if transposed else 1]  # input channels
            m.weight.data[...] = 1.0 / (taps * fan)
            if m.bias is not None:
                m.bias.data[...] = 0.0
    return layer


def smooth_periodic(channels: int, size: int, bandwidth: int, rng: np.random.Generator,
                    batch: int = 1) -> np.ndarray:
    """(batch, channels, size, size): ``1 + 0.5 * f / std(f)`` with f a real random field whose
    Fourier coefficients vanish outside |u|, |v| <= bandwidth."""
    spectrum = np.zeros((batch, channels, size, size), dtype=complex)
    band = np.r_[0:bandwidth + 1, size - bandwidth:size]
    shape = (batch, channels, len(band), len(band))
    spectrum[np.ix_(range(batch), range(channels), band, band)] = (
        rng.normal(size=shape) + 1j * rng.normal(size=shape))
    field = np.fft.ifft2(spectrum).real  # the real part of a band-limited field is band-limited
    field /= field.std(axis=(2, 3), keepdims=True)
    return 1.0 + 0.5 * field


def nyquist_share(layer: nn.Module, in_channels: int, size: int = 32, bandwidth: int = 3,
                  batch: int = 4, seed: int = 0) -> float:
    """Energy of ``layer``'s output within ``bandwidth`` of the three Nyquist points, over
    its total energy, for smooth periodic inputs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    y = upsample_periodic(layer, smooth_periodic(in_channels, size, bandwidth, rng, batch))
    energy = np.abs(np.fft.fft2(y)) ** 2
    return float(energy[..., _nyquist_mask(2 * size, bandwidth)].sum() / energy.sum())


def upsample_periodic(layer: nn.Module, x: np.ndarray, pad: int = 4) -> np.ndarray:
    """One period of ``layer``'s output for a periodic input ``x`` (N, C, S, S): pad by
    wrapping around, upsample in float64, cut 2S x 2S clear of the borders."""
    S = x.shape[-1]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="wrap")
    with no_grad():
        y = layer(Tensor(x)).data  # float64 in: the convs compute in float64
    start = 2 * pad
    return y[:, :, start:start + 2 * S, start:start + 2 * S]


def _nyquist_mask(n: int, bandwidth: int) -> np.ndarray:
    """Frequencies of an n x n spectrum within ``bandwidth`` of (n/2, 0), (0, n/2), (n/2, n/2)."""
    u = np.arange(n)
    near_zero = np.minimum(u, n - u) <= bandwidth
    near_nyquist = np.abs(u - n // 2) <= bandwidth
    return (np.outer(near_nyquist, near_zero) | np.outer(near_zero, near_nyquist)
            | np.outer(near_nyquist, near_nyquist))
