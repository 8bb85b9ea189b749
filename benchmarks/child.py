"""One measurement, one framework, one fresh process: ``python -m benchmarks.child PART FRAMEWORK``.

The harness starts this module once per framework per round, each time with a clean copy of
its environment, so each framework runs with its own defaults: nothing that tinyunet sets at
import (``tinyunet/threads.py``: OpenMP's wait policy, OpenBLAS's threads) reaches a torch
process, which never imports tinyunet (its U-Net is loaded from the twin's file).

PART is one of

``step``       seconds per training step (``workloads.training_step``), after warm-up steps;
``inference``  seconds per 512x512 inference;
``layers``     every conv layer of the U-Net, forward and backward separately;
``ops``        max-pool, concat, upsampling, forward and backward;
``memory``     resident memory: after import, after a warm-up step on one image (the code is
               loaded; then what the warm-up freed is handed back to the system), and the
               peak (VmHWM) over three batch-8 steps;
``startup``    import, and the first training step from a fresh process (model built, data
               made, forward, loss, backward, SGD); for tinyunet, how many numba kernels the
               import compiled. The numba cache is whatever NUMBA_CACHE_DIR names: the harness
               passes an empty folder (cold), then the same folder again (warm);
``ceiling``    float32 matrix product (2048^3) GFLOP/s, FRAMEWORK ``numpy`` or ``torch``;
``breakdown``  tinyunet only: where a step's time goes, op by op (``breakdown.py``);
``accuracy``   Winograd's float32 error against torch's, not a timing (``winograd_error.py``).

Prints one JSON object: the measurement, plus the environment and thread count it ran with.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

# Read before anything is imported: what this process was started with.
_ENV_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS",
             "OPENBLAS_THREAD_TIMEOUT", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "NUMBA_CACHE_DIR", "TINYUNET_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_")
STARTED_WITH = {k: os.environ[k] for k in _ENV_KEYS if k in os.environ}


def times(fn, repeats, warmup=1, setup=None) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn()`` after ``warmup`` untimed ones;
    ``setup()`` before each, untimed."""
    out = []
    for i in range(warmup + repeats):
        if setup is not None:
            setup()
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        if i >= warmup:
            out.append(dt)
    return out


def _status_mib(field: str) -> float:
    """A memory line of /proc/self/status, in MiB. VmHWM (peak RSS) is per process image,
    unlike ru_maxrss, which Linux carries across exec from the parent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _trim():
    """glibc's malloc_trim(0): return freed heap memory to the system (nothing elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _import(framework) -> float:
    t = time.perf_counter()
    if framework == "torch":
        import torch  # noqa: F401
    else:
        import tinyunet  # noqa: F401
        import tinyunet.kernels.numba_cpu  # noqa: F401  (the kernels, as the first op would)
    return time.perf_counter() - t


def _threads(framework) -> int | None:
    if framework == "torch":
        import torch

        return torch.get_num_threads()
    if framework == "tinyunet":
        from tinyunet import threads

        return threads.num_threads()
    return None


def _compiled_on_import() -> list[str]:
    """Names of tinyunet's numba kernels that already hold a compiled signature."""
    from numba.core.registry import CPUDispatcher

    found = []
    for name, mod in list(sys.modules.items()):
        if name.startswith("tinyunet.kernels.numba_cpu"):
            for attr, obj in vars(mod).items():
                if isinstance(obj, CPUDispatcher) and obj.signatures:
                    found.append(f"{name}.{attr}")
    return sorted(set(found))


def measure(part, framework, repeats) -> dict:
    from . import workloads

    if part == "startup":
        out = {"import_s": _import(framework)}
        if framework == "tinyunet":
            out["compiled_on_import"] = _compiled_on_import()
        t = time.perf_counter()
        workloads.training_step(framework)()
        out["first_step_s"] = time.perf_counter() - t
        return out
    if part == "memory":
        _import(framework)
        out = {"rss_after_import_mib": _status_mib("VmRSS")}
        workloads.training_step(framework, batch=1)()
        _trim()  # hand back what the warm-up freed, as either framework's allocator may keep it
        out["rss_after_warmup_mib"] = _status_mib("VmRSS")
        step = workloads.training_step(framework)
        for _ in range(3):
            step()
        out["peak_rss_mib"] = _status_mib("VmHWM")
        return out
    if part == "ceiling":
        return {"gflops": _sgemm(framework, repeats)}
    if part == "step":
        return {"s": times(workloads.training_step(framework), repeats, warmup=2)}
    if part == "inference":
        return {"s": times(workloads.inference(framework), repeats, warmup=1)}
    if part in ("layers", "ops"):
        from .models import reference_layers

        cases = ([(layer.name, workloads.conv_layer(framework, layer))
                  for layer in reference_layers(128)] if part == "layers"
                 else [(name, workloads.op(framework, name)) for name in workloads.OPS])
        return {"table": {name: {"fwd": times(forward, repeats),
                                 "bwd": times(backward, repeats, setup=setup)}
                          for name, (forward, setup, backward) in cases}}
    if part == "breakdown":
        from .breakdown import breakdown

        return breakdown(workloads.training_step("tinyunet"), repeats)
    if part == "accuracy":
        from .winograd_error import measure as accuracy

        return {"rows": accuracy()}
    raise ValueError(f"unknown part {part!r}")


def _sgemm(framework, repeats, n=2048) -> float:
    """Median GFLOP/s of an n x n x n float32 product, on the library's default threads."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    if framework == "torch":
        import torch

        a = torch.from_numpy(a)
    return 2.0 * n**3 / statistics.median(times(lambda: a @ a, repeats)) / 1e9


def main(argv) -> dict:
    part, framework = argv[0], argv[1]
    repeats = int(argv[2]) if len(argv) > 2 else 7
    load = os.getloadavg()
    out = measure(part, framework, repeats)
    out.update(framework=framework, part=part, env=STARTED_WITH,
               threads=_threads(framework), load=[load, os.getloadavg()])
    if framework == "torch":  # the point of a process of its own: say it held
        out["tinyunet_imported"] = any(m.split(".")[0] == "tinyunet" for m in sys.modules)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
