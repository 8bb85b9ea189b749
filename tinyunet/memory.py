"""Memory: keep the pages of freed arrays, so that the next step does not fault them in again.

A training step allocates and frees every activation and gradient, hundreds of megabytes. By
default glibc's malloc serves each big request with a fresh ``mmap`` and hands it back with
``munmap`` when the array is freed, so the next step's identical arrays start as untouched
pages: measured on the reference U-Net, about 10,000 page faults and 50 ms of kernel time per
step (PyTorch, with the same malloc, had none). Raising malloc's mmap threshold to its
maximum (32 MiB on 64-bit) keeps arrays up to that size on the heap (larger ones are still
mapped afresh each time), and raising the trim threshold
stops malloc from returning the freed heap to the system, so the pages are reused. Peak
memory does not grow: the heap holds at most what the step used at its peak.

One heap for every thread: glibc gives each new thread that allocates an arena of its own, and
a block freed in one arena serves only that arena's threads. The workers of ``parallel_for``
allocate their workspaces, the calling thread the arrays; with an arena each, the peak holds
freed blocks that another thread cannot reuse (benchmarks/analysis.md). ``M_ARENA_MAX`` = 1
keeps them all in the main heap; the big allocations are few (one per array), so the threads
do not queue on its lock (the step's time did not change).

Applied once, when tinyunet is imported, on glibc only (elsewhere nothing happens), and only
when neither ``MALLOC_MMAP_THRESHOLD_`` nor ``MALLOC_TRIM_THRESHOLD_`` is already set (the
environment's word wins; ``MALLOC_ARENA_MAX`` likewise for the arenas).
``TINYUNET_KEEP_PAGES=0`` turns both off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
_TRIM_THRESHOLD = 2**30


def _mallopt():
    """glibc's ``mallopt(param, value)``, or None where there is none."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def keep_freed_pages() -> bool:
    """Tell glibc's malloc to keep big freed blocks for reuse; False where it cannot."""
    mallopt = _mallopt()
    return bool(mallopt and mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
                and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def one_arena() -> bool:
    """Tell glibc's malloc to serve every thread from the main heap; False where it cannot."""
    mallopt = _mallopt()
    return bool(mallopt and mallopt(_M_ARENA_MAX, 1))


KEPT = ONE_ARENA = False
if os.environ.get("TINYUNET_KEEP_PAGES", "1") != "0":
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ and "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        KEPT = keep_freed_pages()
    if "MALLOC_ARENA_MAX" not in os.environ:
        ONE_ARENA = one_arena()
