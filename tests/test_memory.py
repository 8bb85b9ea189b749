"""memory.py: freed arrays' pages are kept and reused, not faulted in again each step."""

import os
import resource
import sys

import numpy as np
import pytest

from tinyunet import memory


def _faults_touching_a_fresh_array(nbytes):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(nbytes // 8)
    a[:] = 1.0  # touch every page
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del a
    return after - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
@pytest.mark.skipif(os.environ.get("TINYUNET_KEEP_PAGES") == "0"
                    or any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_",
                                                     "MALLOC_TRIM_THRESHOLD_")),
                    reason="switched off, or malloc configured by the environment")
def test_an_array_allocated_again_reuses_the_freed_pages():
    assert memory.KEPT, "tinyunet.memory did not configure glibc's malloc on import"
    nbytes = 8 * 2**20  # 2048 pages of 4 KiB
    _faults_touching_a_fresh_array(nbytes)  # the heap grows once
    assert _faults_touching_a_fresh_array(nbytes) < 64  # then the same pages are reused


def _heaps(tmp_path) -> int:
    """How many heaps (arenas) glibc's malloc has, from its own report (malloc_info)."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p] * 2
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    report = tmp_path / "malloc_info.xml"
    f = libc.fopen(str(report).encode(), b"w")
    libc.malloc_info(0, f)
    libc.fclose(f)
    return report.read_text().count("<heap nr=")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
@pytest.mark.skipif(os.environ.get("TINYUNET_KEEP_PAGES") == "0"
                    or "MALLOC_ARENA_MAX" in os.environ,
                    reason="switched off, or malloc configured by the environment")
def test_a_new_thread_allocates_from_the_main_heap(tmp_path):
    """A thread that allocates is given no arena of its own: the heaps there are serve it (one,
    in a process that imports tinyunet before it starts threads)."""
    import threading

    assert memory.ONE_ARENA, "tinyunet.memory did not configure glibc's malloc on import"
    before = _heaps(tmp_path)
    t = threading.Thread(target=lambda: np.ones(2**20, np.uint8).sum())
    t.start()
    t.join()
    assert _heaps(tmp_path) == before


def test_kernel_workspaces_are_pages_of_their_own_reused_until_outgrown():
    """The numba kernels' per-thread scratch arrays live outside malloc's heap (an mmap each),
    so where they land does not depend on the threads' timing; each is reused while big enough
    and replaced when outgrown."""
    import mmap

    from tinyunet.kernels.numba_cpu.layout import workspace

    def pages(a):
        while not isinstance(a, mmap.mmap):
            a = a.obj if isinstance(a, memoryview) else a.base
        return a

    first = workspace("test_scratch", (4, 100), np.float32)
    assert first.shape == (4, 100) and first.flags.writeable
    first[:] = 1.0
    assert pages(workspace("test_scratch", (2, 50), np.float32)) is pages(first)  # reused
    bigger = workspace("test_scratch", (8, 1000), np.float32)
    assert bigger.shape == (8, 1000) and pages(bigger) is not pages(first)  # grown
    skewed = workspace("test_skewed", (16, 64), np.float32, skew=8)
    assert skewed.shape == (16, 64) and skewed.strides[0] == (64 + 8) * 4
