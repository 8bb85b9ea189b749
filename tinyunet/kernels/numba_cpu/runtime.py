"""numba's runtime, started once when this kernel set is imported, without SciPy's linalg.

Before the first kernel can run, whether compiled now or loaded from numba's cache, numba
"refreshes" its CPU target: it imports and registers the implementations of everything a
jitted function could call: the largest part of a warm start. One of those imports,
``numba.np.arraymath``, imports ``scipy.linalg`` only to find out whether ``np.convolve`` and
``np.correlate`` may call BLAS for their float inner products (they sum in a loop otherwise).
None of tinyunet's kernels calls either, and importing ``scipy.linalg`` is half of the
refresh's time and a good part of its memory (benchmarks/analysis.md), so ``start``
refreshes the target with that one import refused, then lets it be imported again.

Nothing changes where ``scipy.linalg`` was already imported (numba then finds it), where the
refresh already happened, where numba's JIT is off, or with ``TINYUNET_NUMBA_BLAS=1``.
"""

from __future__ import annotations

import os
import sys

_BLAS = "scipy.linalg.cython_blas"


def start() -> bool:
    """Refresh numba's CPU target now, without importing scipy.linalg; True if it did."""
    if (os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"
            or os.environ.get("TINYUNET_NUMBA_BLAS", "0") == "1"
            or "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules):
        return False
    from numba.core.registry import cpu_target

    sys.modules[_BLAS] = None  # makes `import scipy.linalg.cython_blas` raise ImportError
    try:
        cpu_target.target_context.refresh()
    finally:
        if sys.modules.get(_BLAS, 0) is None:
            del sys.modules[_BLAS]
    return True
