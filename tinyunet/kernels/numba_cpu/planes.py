"""The stride-1 3-D convolution by plane columns: nine shifted copies per input plane, each
plane's copies reused by every output plane that reads it.

vol2col (vol2col.py) writes kD kH kW = 27 copies of the input, one per tap, and does it with
short row loops. For stride 1 (every 3x3x3 conv of the 3-D U-Net, and every input gradient of
one) there is a cheaper layout. Pad each input plane to (Hp, Wp) = (H_out + kH - 1,
W_out + kW - 1), padding p_H, p_W in front, and flatten it. In those flat coordinates output
(oh, ow) sits at q = oh*Wp + ow and tap (kh, kw) reads q + kh*Wp + kw: a *contiguous* shifted
view. So one plane's columns

    cols_e[(c, kh, kw), q] = x_p[c, e - p_D, q + kh*Wp + kw]       (0 for a plane of padding)

are kH kW memcpys per channel, and output plane od is one product over the kD planes it reads:

    y[:, od, q] = W' (C_out, kD C_in kH kW) @ [cols_od; cols_od+1; ...; cols_od+kD-1]

with W' the weight reordered to (co, kd, ci, kh, kw). Positions q with ow >= W_out wrap round
a row end: computed, then dropped. Each plane's columns are built once and used by the kD
output planes that read them: 9 copies of the input instead of 27.

The planes live in a ring of kD slots, plane e in slot e mod kD, so sweeping od upwards
builds one new plane per output plane. The slab of the ring is then in rotated order, so the
product for od uses the weight with its kd blocks rotated to match (``_rotated``). A worker
takes (sample, band of output rows) items and sweeps each from the first output plane to the
last; the band is narrow enough that the ring stays in cache while BLAS reads it.

The weight gradient, and the forward where C_out <= C_in, need no columns at all: shifts.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...threads import num_threads, parallel_for
from .layout import ITEMS_PER_WORKER, pad, workspace

# Floats in a worker's ring (kD planes of C_in kH kW rows x band columns): 2 MB in float32,
# to stay in L2 + L3 while BLAS reads it (the products are best at 256-1024 columns).
_RING = 2**19


def fits(stride, dilation, front):
    """What this path is written for: stride 1, no dilation, non-negative padding."""
    return stride == (1, 1, 1) and dilation == (1, 1, 1) and min(front) >= 0


@njit(nogil=True, cache=True)
def _fill(xp, plane, q0, n, kH, kW, Wp, ring, row0):
    """ring[row0 + (c, kh, kw), :n] = xp[c, plane, q0 + kh*Wp + kw : ... + n]; zeros for a
    plane of padding (plane outside [0, D))."""
    C, D, _ = xp.shape
    for c in range(C):
        for kh in range(kH):
            for kw in range(kW):
                dst = ring[row0 + (c * kH + kh) * kW + kw]
                if plane < 0 or plane >= D:
                    dst[:n] = 0.0
                else:
                    start = q0 + kh * Wp + kw
                    dst[:n] = xp[c, plane, start:start + n]


def _rotated(w):
    """W' (C_out, C_in, kD, kH, kW) -> kD matrices (C_out, kD R): for od = r mod kD, slot s of
    the ring holds tap kd = (s - r) mod kD."""
    C_out, C_in, kD, kH, kW = w.shape
    blocks = np.ascontiguousarray(w.transpose(0, 2, 1, 3, 4)).reshape(C_out, kD, -1)
    return [np.ascontiguousarray(np.roll(blocks, r, axis=1).reshape(C_out, -1))
            for r in range(kD)]


def _bands(N, rows, fit):
    """Items (n, r0, r1): the output rows of each sample in equal bands of at most ``fit`` rows,
    and of fewer when that gives each worker fewer than ITEMS_PER_WORKER items."""
    share = max(1, -(-N * rows // (num_threads() * ITEMS_PER_WORKER)))
    step = max(1, min(fit, share, rows))
    step = -(-rows // -(-rows // step))  # equal bands
    return [(n, r0, min(r0 + step, rows)) for n in range(N) for r0 in range(0, rows, step)]


def _sweep(xp, r0, r1, kernel, front, Wp, D_out, ring):
    """Yield (od, slab) for the output planes od = 0..D_out-1 of rows r0:r1 of one sample
    xp (C, D, Lp): each input plane's columns are built once, as the window reaches it, and
    slab = ring[:, :m] is the kD planes od reads (in ring order)."""
    kD, kH, kW = kernel
    R, m, q0 = ring.shape[0] // kD, (r1 - r0) * Wp, r0 * Wp
    for e in range(kD - 1):
        _fill(xp, e - front[0], q0, m, kH, kW, Wp, ring, (e % kD) * R)
    for od in range(D_out):
        e = od + kD - 1
        _fill(xp, e - front[0], q0, m, kH, kW, Wp, ring, (e % kD) * R)
        yield od, ring[:, :m]


def _padded_batch(x, kernel, front, out):
    """Every sample's planes zero-padded to (Hp + 1, Wp) and flattened: (N, C, D, Lp). The
    spare row keeps the last taps of the last output row inside their plane."""
    N, C, D, H, W = x.shape
    Hp, Wp = out[1] + kernel[1] - 1, out[2] + kernel[2] - 1
    xp = np.empty((N, C * D, Hp + 1, Wp), dtype=x.dtype)
    parallel_for(lambda mine: [pad(x[n].reshape(C * D, H, W), front[1], front[2], xp[n])
                               for n in mine], range(N))
    return xp.reshape(N, C, D, (Hp + 1) * Wp)


def conv(x, w, b, front, out):
    """y (N, C_out, *out) = b + the stride-1 conv of x (N, C_in, D, H, W), zero-padded by
    ``front`` before the first voxel of each axis (and as far as ``out`` needs after it)."""
    N, C_in = x.shape[:2]
    C_out, _, kD, kH, kW = w.shape
    D_out, H_out, W_out = out
    Wp, R = W_out + kW - 1, C_in * kH * kW
    weights = _rotated(w)
    xp = _padded_batch(x, (kD, kH, kW), front, out)
    bands = _bands(N, H_out, max(1, _RING // (kD * R * Wp)))  # the ring fits in _RING floats
    width = max(r1 - r0 for _, r0, r1 in bands) * Wp
    y = np.empty((N, C_out, *out), dtype=x.dtype)

    def work(mine):
        ring = workspace("planes_ring", (kD * R, width), x.dtype)
        for n, r0, r1 in mine:
            rows = r1 - r0
            product = workspace("planes_out", (C_out, rows * Wp), x.dtype)
            for od, slab in _sweep(xp[n], r0, r1, (kD, kH, kW), front, Wp, D_out, ring):
                np.matmul(weights[od % kD], slab, out=product)
                y_band = y[n, :, od, r0:r1]  # drop the wrapped positions ow >= W_out
                y_band[...] = product.reshape(C_out, rows, Wp)[:, :, :W_out]
                if b is not None:
                    y_band += b[:, None, None]  # while the band is in cache

    parallel_for(work, bands)
    return y
