"""kernels/numba_cpu/runtime.py: numba's runtime starts at import, without scipy.linalg, and
leaves scipy.linalg importable afterwards."""

import json
import os
import subprocess
import sys
import textwrap


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                         env={**os.environ, "TINYUNET_COMPILE_AHEAD": "0", **env},
                         capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


CODE = """
    import json, sys
    import numpy as np
    import tinyunet.kernels.numba_cpu as k
    refreshed = "numba.np.arraymath" in sys.modules
    without = "scipy.linalg" not in sys.modules
    y = k.relu(np.array([-1.0, 2.0], np.float32))  # a kernel runs
    import scipy.linalg.cython_blas  # and scipy's linalg is still there for whoever wants it
    print(json.dumps([refreshed, without, y.tolist()]))
"""


def test_the_runtime_starts_at_import_without_scipy_linalg():
    assert _run(CODE) == [True, True, [0.0, 2.0]]


def test_the_switch_leaves_numba_to_start_its_runtime_as_it_always_did():
    refreshed, _, y = _run(CODE, TINYUNET_NUMBA_BLAS="1")
    assert not refreshed and y == [0.0, 2.0]
