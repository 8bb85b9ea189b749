"""Scratch space and shares of work for the conv kernels: padding, workspaces, groups, parts.

Every conv kernel in this set follows one plan (see tinyunet/threads.py): the samples of a
batch are shared out to the cores, and a worker takes a sample from start to finish in its
own workspaces (the padded input, the column matrix, the transformed tiles), which are reused
from call to call instead of allocated and page-faulted each time. Two refinements:

* small images go a few samples at a time, side by side in one matrix (``groups``), when
  the batch is big enough: a matrix product only 64 columns wide is too thin for BLAS, but
  a worker left waiting at the join costs more;
* a batch smaller than the core count (inference on one image) would leave cores idle, so
  there the direct and im2col kernels cut each sample into channel blocks instead
  (``parts``, ``blocks``, ``units``); Winograd cuts a large image into bands of rows
  (winograd.pieces), and leaves a small one (a 32x32 level at batch 1) to one core.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit

from ...threads import num_threads


@njit(nogil=True, cache=True)
def pad(x, top, left, xp):
    """xp[c, i, j] = x[c, i - top, j - left], 0 where that is outside x (top, left >= 0).

    What does not fit in xp is cut. Plain element loops: numba turns them into vector copies,
    while a slice assignment per row costs more than the row itself on small images. (numba
    wraps negative indices, so the loops index with non-negative ranges into slices: a
    signed shift would cost a check per element and stop LLVM from vectorising.)
    """
    C, H, W = x.shape
    _, Hp, Wp = xp.shape
    left = min(left, Wp)
    n = min(W, Wp - left)  # the columns of x that land in xp
    for c in range(C):
        for i in range(Hp):
            row = xp[c, i]
            if i < top or i - top >= H:
                for j in range(Wp):
                    row[j] = 0.0
                continue
            src, dst = x[c, i - top], row[left:]
            for j in range(left):
                row[j] = 0.0
            for j in range(n):
                dst[j] = src[j]
            for j in range(left + n, Wp):
                row[j] = 0.0


_local = threading.local()


def workspace(name, shape, dtype, skew=0):
    """This thread's scratch array ``name`` of ``shape``: grown when too small, else reused.

    ``skew`` pads each slice along the first axis by that many elements. A loop that reads
    or writes the same position of many such slices at once (Winograd's 16 tiles) would
    otherwise, whenever a slice is a multiple of 4 KB, hit one L1 cache set with all of them
    and evict itself (measured: 9x slower on 256x256 channels).
    """
    rows, rest = shape[0], math.prod(shape[1:])
    size = rows * (rest + skew)
    buffers = _local.__dict__.setdefault("buffers", {})
    key = (name, np.dtype(dtype))
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(rows, rest + skew)[:, :rest].reshape(shape)


# A batch is cut into at least this many items per worker, so that a worker on a slower core
# can hand work over (measured on the U-Net's training step at batch 8: 4 items a worker,
# one sample each, is 4-5% faster than 1 item of 4 samples, though the products are thinner).
ITEMS_PER_WORKER = 4


def groups(N, P, columns):
    """range(N) in groups of consecutive samples, to go side by side into one matrix of
    about ``columns`` columns (P per sample); small enough for ITEMS_PER_WORKER groups a
    worker."""
    g = max(1, min(-(-N // (num_threads() * ITEMS_PER_WORKER)), columns // P))
    return [range(i, min(i + g, N)) for i in range(0, N, g)]


def parts(N, C):
    """Into how many channel blocks each sample is cut: 1 when the batch alone keeps every
    core busy, else enough blocks (of at least 4 of the C channels) for one per core."""
    if N == 0 or N >= num_threads():
        return 1
    return max(1, min(-(-num_threads() // N), C // 4))


def blocks(C, parts, multiple=1):
    """range(C) cut into ``parts`` (lo, hi) blocks of nearly equal size, lo a multiple of
    ``multiple`` (the direct kernel's four output channels per pass)."""
    cuts = [min(C, -(-C * p // parts // multiple) * multiple) for p in range(parts + 1)]
    return [(cuts[p], cuts[p + 1]) for p in range(parts)]


def units(N, blocks):
    """Every (sample, channel block) pair: the items of a batch cut into parts."""
    return [(n, block) for n in range(N) for block in blocks]
