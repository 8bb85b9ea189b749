"""How every GPU kernel in this set is launched: a 1-D grid of 128-thread blocks.

Each kernel numbers its work items 0 .. n-1 (one output element, or one input pixel) and
walks them with a *grid-stride loop*::

    for item in range(cuda.grid(1), n, cuda.gridsize(1)):

so any grid covers any n: thread t of a grid of T threads does items t, t + T, t + 2T, ...
The grid is capped at MAX_BLOCKS; past that, threads loop instead of more blocks being queued.

Under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, how the tests run without a GPU)
every thread is a Python thread and starting one costs far more than the work it does, so
there the grid is two blocks of one warp and the grid-stride loops do the rest: the same
kernels, and the looping path gets exercised too.
"""

from __future__ import annotations

from numba.core import config

THREADS = 128  # per block: a multiple of the 32-thread warp
MAX_BLOCKS = 4096  # enough to fill any current GPU; more work just loops
if config.ENABLE_CUDASIM:
    THREADS, MAX_BLOCKS = 32, 2


def launch(kernel, n: int, *args) -> None:
    """Run ``kernel[blocks, THREADS](*args)`` with enough blocks for ``n`` work items."""
    if n == 0:
        return
    blocks = min((n + THREADS - 1) // THREADS, MAX_BLOCKS)
    kernel[blocks, THREADS](*args)
