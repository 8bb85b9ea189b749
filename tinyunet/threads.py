"""Threads: who runs on which core, so that two thread pools never fight over two cores.

A conv step alternates numba loops (im2col, col2im) with OpenBLAS matrix multiplies. Left at
their defaults, numba's OpenMP workers and OpenBLAS's workers each start one thread per core
and *spin* for a while after every job, waiting for the next one. Interleave the two and each
pool's spinning threads steal the cores the other pool needs: a 16->16 3x3 conv measured
~70 ms instead of ~20 ms. On a shared, busy machine it gets far worse, because a spinning thread
waits for a partner that the scheduler has descheduled.

tinyunet's policy, set here before numba or OpenBLAS starts any thread:

* one level of parallelism: the batch. ``parallel_for`` shares the samples of a batch (or
  bands of one large image) out to ``num_threads()`` workers, a small pool of Python threads,
  each taking the next item when it is free; inside a worker every kernel is single-threaded
  (numba ``nogil`` loops and a one-thread OpenBLAS), so the only synchronisation is a lock
  per item and one join per conv;
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
import threading
from concurrent.futures import ThreadPoolExecutor


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_NUM_THREADS = max(1, int(os.environ.get("TINYUNET_NUM_THREADS", _cores())))

_DEFAULTS = {
    "OPENBLAS_NUM_THREADS": "1",
    "OPENBLAS_THREAD_TIMEOUT": "4",  # spin 2**4 cycles, then sleep
    "OMP_WAIT_POLICY": "PASSIVE",
    "NUMBA_NUM_THREADS": str(_NUM_THREADS),
}
# The variables tinyunet added (not those the user's environment had): a process that starts
# other programs (benchmarks/harness.py) takes them out of the children's environment. They
# are listed in TINYUNET_SET_ENV too, so a process started by one that imported tinyunet (a
# pytest-xdist worker, say) still knows which of its inherited variables were tinyunet's.
_INHERITED = tuple(k for k in os.environ.get("TINYUNET_SET_ENV", "").split(",") if k)
SET_BY_TINYUNET = tuple(k for k in _DEFAULTS if k not in os.environ or k in _INHERITED)
for _key in SET_BY_TINYUNET:
    os.environ.setdefault(_key, _DEFAULTS[_key])
os.environ["TINYUNET_SET_ENV"] = ",".join(SET_BY_TINYUNET)


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
    """How many workers share a batch out (``TINYUNET_NUM_THREADS``, default all cores)."""
    return _NUM_THREADS


_pool: ThreadPoolExecutor | None = None


class _Queue:
    """The items of a parallel_for, shared by the workers: each ``next`` hands the next item
    to whichever worker asks, exactly once (a lock, so it holds without the GIL too)."""

    def __init__(self, items):
        self._items, self._next, self._lock = items, 0, threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            i = self._next
            if i >= len(self._items):
                raise StopIteration
            self._next = i + 1
        return self._items[i]


def parallel_for(fn, items, fixed: bool = False) -> list:
    """Run ``fn(mine)`` on ``num_threads()`` workers in parallel, sharing out ``items``.

    ``mine`` iterates over the items a worker takes. By default they go to whichever worker
    asks next, so a worker on a busy or slower core simply takes fewer (a fixed split would
    leave the others waiting for it at the join). With ``fixed=True`` worker k takes items
    k, k + T, k + 2T, ... whatever the timing: use it when workers sum into accumulators of
    their own, so that the sums, added up in worker order, come out bit for bit the same
    every run.

    Returns each worker's result, the calling thread's first. ``fn`` must release the GIL
    for its heavy work (numba ``nogil`` kernels and BLAS do) and write only to the outputs of
    the items it took. A share that no worker has begun by the time the calling thread is
    done with its own (the workers are busy, or not awake yet) is run by the calling thread:
    so a late worker costs no waiting, and parallel_for may be called from a worker.
    """
    items = list(items)
    workers = min(_NUM_THREADS, len(items))
    if workers <= 1:
        return [fn(iter(items))] if items else []
    if fixed:
        shares = [iter(items[k::workers]) for k in range(workers)]
    else:
        shares = [_Queue(items)] * workers  # one queue, the same object for every worker
    # A share the calling thread runs itself stays in the pool's queue, cancelled, until a
    # worker wakes to drop it: through a box emptied on return, it does not keep fn (and the
    # arrays its closure holds) alive that long.
    box = [fn]
    others = [_workers().submit(_unbox, box, share) for share in shares[1:]]
    results = [fn(shares[0])]  # the calling thread is one of the workers
    for share, future in zip(shares[1:], others):
        results.append(fn(share) if future.cancel() else future.result())
    box.clear()
    return results


def _unbox(box, share):
    return box[0](share)


def _workers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_NUM_THREADS - 1, thread_name_prefix="tinyunet")
    return _pool


__all__ = ["num_threads", "parallel_for", "set_blas_threads", "get_blas_threads"]
