"""Compiling ahead: on a cold start, a second process compiles kernels while this one runs.

numba compiles a kernel the first time it is called, and caches the machine code on disk
(``cache=True``), so only the first run on a machine pays: about five seconds of compiling,
on one core, before a training step's first result. Compiling holds the interpreter (and
numba's global compiler lock), so threads cannot share it; a second process can. When this
kernel set is imported and its kernels are not in numba's cache yet, ``start`` launches one
background process that compiles them in the *reverse* order of a training step's first use
(``KERNELS``), while this process compiles them as the step reaches them. The two meet in the
middle: each finds in numba's cache what the other has already compiled, and at most one
kernel is compiled twice. The background process then leaves a marker beside the cache, so
later imports do not start it again.

``TINYUNET_COMPILE_AHEAD=0`` turns it off. Only float32, the training dtype, is compiled
ahead; anything else compiles on first call, as before.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np

from . import activation, conv, direct, layout, pool, winograd


def _examples():
    """(kernel, arguments) for each kernel a float32 training step of the U-Net calls, in the
    order the step first calls it, except im2col (the weight gradient of a bottleneck below
    8x8, which most steps never call): first, so that the background compiles it last.
    Tiny arrays, laid out as the real calls lay them out (a skewed workspace is
    non-contiguous, say), so each compiles the signature the step uses."""
    f32 = np.float32
    a3 = np.zeros((2, 6, 6), f32)
    a2 = np.zeros((2, 36), f32)
    skewed = winograd._skewed((16, 8), f32).reshape(16, 2, 4)  # V, M, D: (16, C, tiles)
    maps = np.zeros((2, 2, 2), f32)
    argmax = np.zeros((2, 2, 2), np.int64)
    return [
        (conv._im2col, (a3, 3, 3, 1, 1, 1, 1, 1, 1, 6, 6, np.zeros((18, 36), f32), 0)),
        (layout.pad, (a3, 0, 1, 1, a3.copy(), 6)),
        (direct._conv3, (a2, np.zeros((4, 2, 3, 3), f32), np.zeros(4, f32), 6, 1, 1,
                         np.zeros((4, 4, 4), f32), True)),
        (pool._max_pool_2x2_planes, (a3, np.zeros((2, 3, 3), f32),
                                     np.zeros((2, 3, 3), np.int64), 0, 2)),
        (winograd._transform_weight, (np.zeros((2, 2, 3, 3), f32), False, 0, 2,
                                      winograd._skewed((16, 4), f32))),
        (winograd.transform, (a3, 2, 2, skewed, 0)),
        (winograd.inverse, (skewed, 0, 0, 2, 2, np.zeros(2, f32), np.zeros((2, 4, 4), f32),
                            True)),
        (activation._relu_backward_planes, (a2, a2.copy(), a2.copy(), np.zeros(2, f32), 0, 2)),
        (direct._conv3_grad_weight, (a2, np.zeros((4, 24), f32), 6, 3, 1, 1,
                                     np.zeros((4, 2, 3, 3), f32))),
        (winograd.transform_grad, (np.zeros((2, 4, 4), f32), 2, 2, skewed, 0)),
        (winograd._inverse_weight_grad, (winograd._skewed((16, 4), f32),
                                       winograd._skewed((9, 4), f32))),
        (pool._max_pool_backward_blocks, (maps, argmax, np.zeros((2, 4, 4), f32), 0, 2)),
    ]


def _marker():
    """The file that says this machine's cache holds the kernels of these very sources (named
    after the numba and Python versions and the kernel files' sizes and times, which is what
    numba's own cache checks), or None where numba's cache cannot be located."""
    try:
        folder = layout.pad._cache.cache_path
    except AttributeError:  # numba's layout changed, or caching is off: do nothing
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    stamp = [sys.version, np.__version__, __import__("numba").__version__]
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            st = os.stat(os.path.join(here, name))
            stamp.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    key = hashlib.sha1("\n".join(stamp).encode()).hexdigest()[:16]
    return os.path.join(folder, f"tinyunet-compiled-ahead-{key}")


def start():
    """Launch the background compile if the kernels are not cached yet (see the module)."""
    if (os.environ.get("TINYUNET_COMPILE_AHEAD", "1") == "0"
            or os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"):
        return None
    marker = _marker()
    if marker is None or os.path.exists(marker):
        return None
    env = {**os.environ, "TINYUNET_COMPILE_AHEAD": "0"}
    code = "from tinyunet.kernels.numba_cpu import ahead; ahead.compile_backwards()"
    try:
        return subprocess.Popen([sys.executable, "-c", code], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                    os.path.dirname(os.path.abspath(__file__))))))
    except OSError:
        return None


def compile_backwards():
    """The background process: every kernel of ``_examples``, last-used first, then the
    marker. At the lowest priority: while the first process compiles on one core, this one
    has the other; once that process computes its first step on every core, this one (with
    at most the kernels left that the step did not need) no longer slows it."""
    if hasattr(os, "nice"):
        os.nice(19)
    for kernel, args in reversed(_examples()):
        kernel(*args)
    marker = _marker()
    if marker is not None:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w") as f:
            f.write("the kernels of tinyunet.kernels.numba_cpu are in this cache\n")
