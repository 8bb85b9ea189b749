"""What the conv kernels share: how they are compiled, padding, workspaces, shares of work.

Every conv kernel in this set follows one plan (see tinyunet/threads.py): the samples of a
batch are shared out to the cores, and a worker takes a sample from start to finish in its
own workspaces (the padded input, the column matrix, the transformed tiles), which are reused
from call to call instead of allocated and page-faulted each time. Two refinements:

* small images go a few samples at a time, side by side in one matrix product
  (``side_by_side``) when the batch is big enough: a product only 64 columns wide is too thin
  for BLAS, but a worker left waiting at the join costs more;
* a batch smaller than the core count (inference on one image) would leave cores idle, so
  there the direct and im2col kernels cut each sample's channels into ranges instead
  (``channel_ranges``, ``sample_channels``); Winograd cuts a large image into bands of tile
  rows (``winograd.tile``), and leaves a small one (a 32x32 level at batch 1) to one core.
"""

from __future__ import annotations

import math
import mmap
import threading

import numpy as np
from numba import njit

from ...threads import num_threads


def kernel(**options):
    """``numba.njit`` as every kernel of this set is compiled: without the GIL (the workers of
    ``parallel_for`` run it side by side), cached on disk, with NumPy's error model (a
    division by zero gives inf, as in NumPy, instead of raising) and without the C-callable
    wrapper numba builds for ``cfunc`` use (only Python calls these). The last two only cut
    compile time: a cold start compiles every kernel once."""
    return njit(nogil=True, cache=True, error_model="numpy", no_cfunc_wrapper=True, **options)


@kernel()
def pad(x, row0, top, left, xp, rows):
    """xp[c, i, j] = x[c, row0 + i - top, j - left] for i < rows, 0 where that is outside x.

    x (C, H, W) and xp (C, Hp, Wp) with rows <= Hp: the padded copy of the rows of x from
    row0 - top on (a band of the image, when row0 > 0); what does not fit in xp is cut. Plain
    element loops: numba turns them into vector copies, while a slice assignment per row costs
    more than the row itself on small images. (numba wraps negative indices, so the loops
    index with non-negative ranges into slices: a signed shift would cost a check per element
    and stop LLVM from vectorising.)
    """
    C, H, W = x.shape
    Wp = xp.shape[2]
    left = min(left, Wp)
    n = min(W, Wp - left)  # the columns of x that land in xp
    for c in range(C):
        for i in range(rows):
            row, r = xp[c, i], row0 + i - top
            if r < 0 or r >= H:
                for j in range(Wp):
                    row[j] = 0.0
                continue
            src, dst = x[c, r], row[left:]
            for j in range(left):
                row[j] = 0.0
            for j in range(n):
                dst[j] = src[j]
            for j in range(left + n, Wp):
                row[j] = 0.0


_local = threading.local()


def _mapped(size, dtype):
    """A zero-filled array of ``size`` elements in pages of its own (an anonymous ``mmap``),
    outside malloc's heap: see ``workspace``."""
    pages = mmap.mmap(-1, max(1, size * dtype.itemsize))
    if hasattr(pages, "madvise") and hasattr(mmap, "MADV_HUGEPAGE"):
        pages.madvise(mmap.MADV_HUGEPAGE)  # as NumPy asks for its large arrays
    return np.frombuffer(pages, dtype=dtype, count=size)


def workspace(name, shape, dtype, skew=0):
    """This thread's scratch array ``name`` of ``shape``: grown when too small, else reused.

    ``skew`` pads each slice along the first axis by that many elements. A loop that reads
    or writes the same position of many such slices at once (Winograd's 16 tiles) would
    otherwise, whenever a slice is a multiple of 4 KB, hit one L1 cache set with all of them
    and evict itself (measured: 9x slower on 256x256 channels).

    Workspaces live as long as their thread, and each grows a few times early on, at moments
    that depend on the threads' timing: in malloc's heap, one placed amid the blocks a step
    frees and reuses would split them, and the heap would grow by a different amount from run
    to run (a training step's peak memory varied by 10 MiB). So they are mapped pages of their
    own, outside the heap.
    """
    rows, rest = shape[0], math.prod(shape[1:])
    size = rows * (rest + skew)
    buffers = _local.__dict__.setdefault("buffers", {})
    key = (name, np.dtype(dtype))
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buffers.pop(key, None)
        buf = buffers[key] = _mapped(size, np.dtype(dtype))
    return buf[:size].reshape(rows, rest + skew)[:, :rest].reshape(shape)


# A batch is cut into at least this many items per worker, so that a worker on a slower core
# can hand work over (measured on the U-Net's training step at batch 8: 4 items a worker,
# one sample each, is 4-5% faster than 1 item of 4 samples, though the products are thinner).
ITEMS_PER_WORKER = 4


def side_by_side(N, P, columns, per_worker=ITEMS_PER_WORKER):
    """range(N) in runs of consecutive samples whose P columns each go side by side into one
    product about ``columns`` wide; short enough for ``per_worker`` runs a worker (1 where
    the runs are shared out in a fixed way, which no item count can balance)."""
    g = max(1, min(-(-N // (num_threads() * per_worker)), columns // P))
    return [range(i, min(i + g, N)) for i in range(0, N, g)]


def channel_splits(N, C):
    """Into how many channel ranges each sample is cut: 1 when the batch alone keeps every
    core busy, else enough ranges (of at least 4 of the C channels) for one per core."""
    if N == 0 or N >= num_threads():
        return 1
    return max(1, min(-(-num_threads() // N), C // 4))


def channel_ranges(C, splits, multiple=1):
    """range(C) cut into ``splits`` (lo, hi) ranges of nearly equal size, lo a multiple of
    ``multiple`` (the direct kernel's four output channels per pass)."""
    cuts = [min(C, -(-C * p // splits // multiple) * multiple) for p in range(splits + 1)]
    return [(cuts[p], cuts[p + 1]) for p in range(splits)]


def sample_channels(N, ranges):
    """Every (sample, channel range) pair: the work items of a batch cut by channels."""
    return [(n, r) for n in range(N) for r in ranges]
