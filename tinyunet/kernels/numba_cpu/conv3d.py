"""3-D convolution, fast: BLAS products over columns of the input, three ways.

* **Stride 1** (every 3x3x3 conv of the 3-D U-Net, and every input gradient of one): plane
  columns, planes.py (9 shifted copies per input plane, each reused by the 3 output planes
  that read it, one product per output plane) where the conv widens; where it does not
  (C_out <= C_in), and for every weight gradient, no copies at all: each kernel tap is a
  strided view of the padded input, shifts.py.
* **A 1x1x1 kernel** (the head): the columns are the input itself, ``y[n] = W @ x[n]``.
* **Anything else** (strides, dilation): vol2col, one band of output rows at a time
  (vol2col.py)::

      y[n, :, band] = b + W (C_out, K) @ cols (K, band),     K = C_in kD kH kW

  written by BLAS straight into the output (a strided view: each channel's band is
  contiguous). The (sample, band) items are shared out to the cores (``parallel_for``); a
  worker keeps its column matrix in a reused workspace (layout.py).

The adjoint pair, as in 2-D: the input gradient of conv3d is conv_transpose3d, and a stride-1
transposed conv *is* a conv3d with the kernel turned 180 degrees in all three axes and the
channels swapped (``_flipped``), front padding ``d(k - 1) - p``: it takes the same roads. A
strided transposed conv (the U-Net's 2x2x2 up-convolution, and the input gradient of strided
convs) multiplies first, ``cols = W^T (C_out kD kH kW, C_in) @ x (C_in, D H W)``, and then
scatter-adds the columns into the output (col2vol); its items are (sample, block of output
channels), so no two workers ever add into the same voxel. The weight gradient is
``sum over items of grad_y[n, :, band] (C_out, band) @ cols.T (band, K)`` (or the shifted
views' version), each worker summing its own items in a fixed order, so results repeat bit
for bit.

The reference kernels in ``tinyunet.kernels.reference.conv3d`` are the definition; the tests
hold every road to them.
"""

from __future__ import annotations

import math

import numpy as np

from ...threads import num_threads, parallel_for
from . import planes, shifts
from .layout import ITEMS_PER_WORKER, blocks, units, workspace
from .vol2col import col2vol, vol2col

# Floats in one band's column matrix (K x band): 4 MB in float32, the size of a core's share
# of L2 + L3, so that BLAS reads back columns vol2col has just written.
_CELLS = 2**20


def _out_sizes(size, kernel, stride, padding, dilation):
    """conv3d's output size per axis: (n + 2p - d(k - 1) - 1) // s + 1."""
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))


def _bands(N, rows, width, K):
    """Items (n, r0, r1): each sample's output rows r = od*H_out + oh cut into bands whose
    columns (K x rows*width) fit in _CELLS floats, and into enough bands that every worker
    gets ITEMS_PER_WORKER of them."""
    fits = max(1, _CELLS // (K * width))
    share = -(-N * rows // (num_threads() * ITEMS_PER_WORKER))
    step = max(1, min(fits, share))
    step = -(-rows // -(-rows // step))  # equal bands: no short last one
    return [(n, r0, min(r0 + step, rows)) for n in range(N) for r0 in range(0, rows, step)]


def _flipped(w):
    """conv_transpose3d's weight (C_in, C_out, kD, kH, kW) as conv3d's: channels swapped and
    the kernel turned 180 degrees in all three axes. A view; _gather copies it."""
    return w.transpose(1, 0, 2, 3, 4)[:, :, ::-1, ::-1, ::-1]


def _hyper(kernel, stride, front, dilation):
    """The 12 integers vol2col and col2vol take, in their order."""
    return (*kernel, *stride, *front, *dilation)


# ----- the kernels --------------------------------------------------------------------------


def conv3d(x, w, b, stride, padding, dilation):
    """y = conv3d(x, w) + b; x (N, C_in, D, H, W), w (C_out, C_in, kD, kH, kW), b or None."""
    out = _out_sizes(x.shape[2:], w.shape[2:], stride, padding, dilation)
    return _gather(x, w, b, stride, padding, dilation, out)


def _gather(x, w, b, stride, front, dilation, out):
    """y (N, C_out, *out) = b + W @ vol2col(x), band by band; ``front`` is the padding before
    the first voxel of each axis (any padding after it is implied by ``out``)."""
    N, C_in = x.shape[:2]
    C_out, _, *kernel = w.shape
    K, (D_out, H_out, W_out) = C_in * math.prod(kernel), out
    P = D_out * H_out * W_out
    w_mat = np.ascontiguousarray(w).reshape(C_out, K)
    if _is_pointwise(kernel, stride, front, x.shape[2:], out):
        return _pointwise(x, w_mat, b)
    if planes.fits(stride, dilation, front):  # shifted views where they pay (shifts.py)
        road = shifts if C_out <= C_in else planes
        return road.conv(x, w, b, front, out)
    y = np.empty((N, C_out, *out), dtype=x.dtype)
    hyper = _hyper(kernel, stride, front, dilation)

    def work(mine):
        for n, r0, r1 in mine:
            cols = workspace("cols", (K, (r1 - r0) * W_out), x.dtype)
            vol2col(x[n], *hyper, H_out, W_out, r0, r1, cols)
            y_band = y[n].reshape(C_out, P)[:, r0 * W_out:r1 * W_out]
            np.matmul(w_mat, cols, out=y_band)
            if b is not None:
                y_band += b[:, None]  # while the band is still in cache

    parallel_for(work, _bands(N, D_out * H_out, W_out, K))
    return y


def _is_pointwise(kernel, stride, front, size, out):
    """A 1x1x1 kernel, stride 1, no padding: the columns are the input itself."""
    return tuple(kernel) == (1, 1, 1) and stride == (1, 1, 1) and front == (0, 0, 0) and \
        tuple(size) == tuple(out)


def _pointwise(x, w_mat, b):
    """y[n] = W (C_out, C_in) @ x[n] (C_in, D H W) (+ b): a 1x1x1 conv is one product."""
    N, C_in, *size = x.shape
    C_out = w_mat.shape[0]
    y = np.empty((N, C_out, *size), dtype=x.dtype)

    def samples(mine):
        for n in mine:
            y_n = y[n].reshape(C_out, -1)
            np.matmul(w_mat, x[n].reshape(C_in, -1), out=y_n)
            if b is not None:
                y_n += b[:, None]

    parallel_for(samples, range(N))
    return y


def conv_transpose3d(x, w, b, stride, padding, output_padding, dilation):
    """Transposed conv; x (N, C_in, D, H, W), w (C_in, C_out, kD, kH, kW), b (C_out,) or None.

    Output size per axis: (size - 1)*s - 2p + d*(k - 1) + output_padding + 1.
    """
    N, C_in, D, H, W = x.shape
    _, C_out, *kernel = w.shape
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, op, d in
                zip(x.shape[2:], kernel, stride, padding, output_padding, dilation))
    if stride == (1, 1, 1):  # a conv3d in disguise (see _flipped)
        front = tuple(d * (k - 1) - p for k, p, d in zip(kernel, padding, dilation))
        return _gather(x, _flipped(w), b, stride, front, dilation, out)

    taps, P = math.prod(kernel), D * H * W
    w_t = w.reshape(C_in, C_out * taps).T  # a transposed view: BLAS reads it as is
    bias = np.zeros(C_out, dtype=x.dtype) if b is None else b
    y = np.empty((N, C_out, *out), dtype=x.dtype)
    hyper = _hyper(kernel, stride, padding, dilation)
    parts = max(1, min(-(-num_threads() * ITEMS_PER_WORKER // N), C_out))

    def work(mine):
        for n, (lo, hi) in mine:  # output channels lo:hi are the column rows lo*taps:hi*taps
            cols = workspace("cols", ((hi - lo) * taps, P), x.dtype)
            np.matmul(w_t[lo * taps:hi * taps], x[n].reshape(C_in, P), out=cols)
            col2vol(cols, bias[lo:hi], *hyper, D, H, W, y[n, lo:hi])

    parallel_for(work, units(N, blocks(C_out, parts)))
    return y


def conv3d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv3d(x, w), w (C_out, C_in, kD, kH, kW): the sum over (sample, band)
    items of grad_y[n, :, band] @ cols.T. grad_y's spatial size may be smaller than conv3d's
    natural output: the sums run over grad_y's own."""
    N, C_in = x.shape[:2]
    _, C_out, D_out, H_out, W_out = grad_y.shape
    K, P = C_in * math.prod(kernel_size), D_out * H_out * W_out
    if _is_pointwise(kernel_size, stride, padding, x.shape[2:], grad_y.shape[2:]):
        return _sum_per_worker(lambda n: grad_y[n].reshape(C_out, P) @ x[n].reshape(C_in, P).T,
                               N).reshape(C_out, C_in, 1, 1, 1)
    if planes.fits(stride, dilation, padding):
        return shifts.grad_weight(x, grad_y, kernel_size, padding)
    hyper = _hyper(kernel_size, stride, padding, dilation)

    def work(mine):
        grad_w, term = np.zeros((C_out, K), dtype=x.dtype), np.empty((C_out, K), x.dtype)
        for n, r0, r1 in mine:
            cols = workspace("cols", (K, (r1 - r0) * W_out), x.dtype)
            vol2col(x[n], *hyper, H_out, W_out, r0, r1, cols)
            g = grad_y[n].reshape(C_out, P)[:, r0 * W_out:r1 * W_out]
            np.matmul(g, cols.T, out=term)
            grad_w += term
        return grad_w

    # a fixed share of the items per worker, added up in worker order: repeatable sums
    partial = parallel_for(work, _bands(N, D_out * H_out, W_out, K), fixed=True)
    grad_w = partial[0] if partial else np.zeros((C_out, K), dtype=x.dtype)
    for g in partial[1:]:
        grad_w += g
    return grad_w.reshape(C_out, C_in, *kernel_size)


def _sum_per_worker(term, N):
    """sum_n term(n), each worker summing its fixed share of the samples (repeatable)."""
    partial = parallel_for(lambda mine: sum(term(n) for n in mine), range(N), fixed=True)
    total = partial[0]
    for p in partial[1:]:
        total = total + p
    return total
