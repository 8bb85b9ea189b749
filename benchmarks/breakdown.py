"""Where a tinyunet training step's time goes, op by op: a profile, not a comparison.

Every ``Function``'s forward (through ``Function.apply``) and backward is timed as the step
runs; what no op accounts for is the engine's walk, the optimizer and the Python in between.
The timers add a few microseconds per op (about 150 ops a step). And per thread: the CPU
time of the calling thread and of each worker, against the wall-clock time, which says how
much of the step runs on one core only and how long each core waits.
"""

from __future__ import annotations

import collections
import glob
import os
import threading
import time


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def breakdown(step, repeats) -> dict:
    """Median over ``repeats`` steps of the seconds of the whole step (``"step"``) and of each
    op's forward and backward (``"ops"``: ``{"Conv2d.backward": seconds, ...}``)."""
    import tinyunet.function as function

    spent = collections.defaultdict(float)
    depth = [0]  # only the outermost op is timed when one op calls another

    def timed(name, fn):
        def run(*args, **kwargs):
            depth[0] += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent[name] += time.perf_counter() - t
        return run

    apply = function.Function.apply.__func__
    patched = [(function.Function, "apply", function.Function.__dict__["apply"])]
    function.Function.apply = classmethod(
        lambda cls, *a, **k: timed(f"{cls.__name__}.forward", apply)(cls, *a, **k))
    for cls in set(_subclasses(function.Function)):
        if "backward" in cls.__dict__:
            patched.append((cls, "backward", cls.__dict__["backward"]))
            cls.backward = staticmethod(timed(f"{cls.__name__}.backward",
                                              cls.__dict__["backward"].__func__))
    try:
        step()
        step()  # warm-up
        rows = []
        cpu_before, wall = _thread_cpu(), 0.0
        for _ in range(repeats):
            spent.clear()
            t = time.perf_counter()
            step()
            rows.append({"step": time.perf_counter() - t, **spent})
            wall += rows[-1]["step"]
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in _thread_cpu().items()}
    finally:
        for cls, name, original in patched:
            setattr(cls, name, original)

    def median(key):
        return sorted(row.get(key, 0.0) for row in rows)[len(rows) // 2]

    names = sorted({k for row in rows for k in row} - {"step"})
    main = str(threading.get_native_id())
    workers = sorted((v for k, v in cpu.items() if k != main and v > 0), reverse=True)
    return {"step": median("step"), "ops": {k: median(k) for k in names}, "repeats": repeats,
            "per_thread": {"wall": wall / repeats, "main": cpu.get(main, 0.0) / repeats,
                        "workers": [v / repeats for v in workers]}}


def _thread_cpu() -> dict:
    """CPU seconds (user + system) of each thread of this process, by thread id (Linux)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for path in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(path) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[path.split("/")[4]] = (int(fields[11]) + int(fields[12])) / tick
    return out
