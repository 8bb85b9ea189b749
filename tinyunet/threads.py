"""Threads: who runs on which core, so that two thread pools never fight over two cores.

A conv step alternates numba loops (im2col, col2im) with OpenBLAS matrix multiplies. Left at
their defaults, numba's OpenMP workers and OpenBLAS's workers each start one thread per core
and *spin* for a while after every job, waiting for the next one. Interleave the two and each
pool's spinning threads steal the cores the other pool needs: a 16->16 3x3 conv measured
~70 ms instead of ~20 ms. On a shared, busy machine it gets far worse, because a spinning thread
waits for a partner that the scheduler has descheduled.

tinyunet's policy, set here before numba or OpenBLAS starts any thread:

* one level of parallelism: the batch. ``for_each_chunk`` splits the samples of a batch into
  ``num_threads()`` chunks and runs them on a small pool of Python threads; inside a chunk every
  kernel is single-threaded (numba ``nogil`` loops and a one-thread OpenBLAS), so the only
  synchronisation is one join per conv;
* OpenBLAS single-threaded (``OPENBLAS_NUM_THREADS=1``, or its runtime call when NumPy was
  imported first), and told to sleep at once when idle (``OPENBLAS_THREAD_TIMEOUT``);
* OpenMP waits passively (``OMP_WAIT_POLICY=PASSIVE``) for numba's remaining ``prange`` loops.

Every setting is a default: a variable already in the environment wins. ``TINYUNET_NUM_THREADS``
sets the number of workers (default: the cores this process may use).
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from concurrent.futures import ThreadPoolExecutor


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_NUM_THREADS = max(1, int(os.environ.get("TINYUNET_NUM_THREADS", _cores())))

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # spin 2**4 cycles, then sleep
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("NUMBA_NUM_THREADS", str(_NUM_THREADS))


def _openblas():
    """NumPy's bundled OpenBLAS, loaded again by path (the same handle), or None."""
    import numpy as np

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        try:
            return ctypes.CDLL(path)
        except OSError:
            pass
    return None


def set_blas_threads(n: int) -> bool:
    """Set OpenBLAS's thread count at run time; False when no OpenBLAS was found."""
    lib = _openblas()
    for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                 "openblas_set_num_threads"):
        if lib is not None and hasattr(lib, name):
            getattr(lib, name)(ctypes.c_int(n))
            return True
    return False


def get_blas_threads() -> int | None:
    lib = _openblas()
    for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                 "openblas_get_num_threads"):
        if lib is not None and hasattr(lib, name):
            return int(getattr(lib, name)())
    return None


if "numpy" in sys.modules and os.environ["OPENBLAS_NUM_THREADS"] == "1":
    set_blas_threads(1)  # NumPy came first: OpenBLAS already read its environment


def num_threads() -> int:
    """How many chunks a batch is split into (``TINYUNET_NUM_THREADS``, default all cores)."""
    return _NUM_THREADS


_pool: ThreadPoolExecutor | None = None


def for_each_chunk(fn, n: int) -> list:
    """Run ``fn(indices)`` on ``num_threads()`` interleaved chunks of ``range(n)``, in parallel.

    Returns the results in chunk order. ``fn`` must release the GIL for its heavy work (numba
    ``nogil`` kernels and NumPy's matmul do) and write only to its own samples' outputs.
    """
    global _pool
    chunks = [range(i, n, _NUM_THREADS) for i in range(min(_NUM_THREADS, n))]
    if len(chunks) <= 1:
        return [fn(c) for c in chunks]
    if _pool is None:
        _pool = ThreadPoolExecutor(_NUM_THREADS - 1, thread_name_prefix="tinyunet")
    others = [_pool.submit(fn, c) for c in chunks[1:]]
    first = fn(chunks[0])  # the calling thread is one of the workers
    return [first] + [f.result() for f in others]


__all__ = ["num_threads", "for_each_chunk", "set_blas_threads", "get_blas_threads"]
