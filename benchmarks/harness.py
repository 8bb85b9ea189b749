"""Time tinyunet against PyTorch CPU fairly: each framework in processes of its own.

Every figure comes from child processes (``child.py``), one framework per process, each
started with a clean copy of this process's environment: so each framework runs with its own
defaults, and nothing tinyunet sets for itself (``tinyunet/threads.py`` puts OpenMP's wait
policy and OpenBLAS's thread count into ``os.environ`` at import) reaches PyTorch. This
parent never imports tinyunet; when it runs inside a process that has (``tinyunet bench``),
the variables tinyunet added are taken out of the copy (``clean_environment``).

The frameworks alternate process by process for several rounds, the first to go switching
each round, so a burst of load from elsewhere falls on both. Within a process a figure is the
median of its repeats after warm-up; across rounds the headline is the median of those, and
the spread is their smallest and largest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FRAMEWORKS = ("tinyunet", "torch")

# part -> (rounds, repeats per process): a full run takes about ten minutes on two cores.
PLAN = {"ceiling": (3, 5), "step": (5, 10), "inference": (5, 7), "memory": (3, 0),
        "startup": (3, 0), "layers": (3, 7), "ops": (3, 7), "breakdown": (1, 10),
        "accuracy": (1, 0)}
QUICK = {"ceiling": (1, 3), "step": (2, 5), "inference": (2, 3), "memory": (1, 0),
         "startup": (1, 0), "layers": (1, 3), "ops": (1, 3), "breakdown": (1, 3),
         "accuracy": (1, 0)}

# Parts measured by modules of their own, run after the parts above, each in a process of its
# own: name -> (module under benchmarks/, its ``run(rounds) -> dict``, its section writer
# ``(result) -> markdown``). ``--only volume`` runs one alone; report.py adds each one's
# section after the others.
EXTRA_PARTS: dict[str, tuple[str, str, str]] = {"volume": ("volume", "run", "markdown")}


def clean_environment(environ=None) -> dict:
    """A copy of ``environ`` without what tinyunet put there for itself: ``tinyunet.threads``
    lists the variables it added in ``TINYUNET_SET_ENV`` (in this process, or in the one that
    started it), and those go, with the list. What the user set stays."""
    env = dict(os.environ if environ is None else environ)
    for key in env.pop("TINYUNET_SET_ENV", "").split(","):
        env.pop(key, None)
    return env


def run_child(part, framework, repeats, env=None) -> dict:
    """One child process (``python -m benchmarks.child``): its JSON answer."""
    cmd = [sys.executable, "-m", "benchmarks.child", part, framework, str(repeats)]
    out = subprocess.run(cmd, cwd=ROOT, env={**clean_environment(), **(env or {})},
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    if answer.get("tinyunet_imported"):
        raise RuntimeError(f"{part}: the torch process imported tinyunet")
    return answer


def alternate(part, rounds, repeats, frameworks=FRAMEWORKS, env=None) -> dict:
    """``{framework: [answer of each round]}``, the frameworks alternating process by
    process, the first one switching each round."""
    out = {fw: [] for fw in frameworks}
    for r in range(rounds):
        order = frameworks if r % 2 == 0 else frameworks[::-1]
        for fw in order:
            out[fw].append(run_child(part, fw, repeats, env))
            print(f"  {part} round {r + 1}/{rounds} {fw}", flush=True)
    return out


def summary(values) -> dict:
    """Median and spread (smallest, largest) of per-round values."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "rounds": list(values)}


def _per_round(answers, key=lambda a: statistics.median(a["s"])):
    return summary([key(a) for a in answers])


def timed_part(part, rounds, repeats) -> dict:
    """step / inference / ceiling: the per-process medians summarised over rounds."""
    if part == "ceiling":
        got = alternate(part, rounds, repeats, ("numpy", "torch"))
        return {fw: _per_round(a, lambda x: x["gflops"]) for fw, a in got.items()}
    got = alternate(part, rounds, repeats)
    return {fw: _per_round(a) for fw, a in got.items()} | {"processes": got}


def table_part(part, rounds, repeats) -> dict:
    """layers / ops: ``{name: {pass: {framework: summary}}}``."""
    got = alternate(part, rounds, repeats)
    return {name: {p: {fw: summary([statistics.median(a["table"][name][p]) for a in got[fw]])
                       for fw in FRAMEWORKS} for p in ("fwd", "bwd")}
            for name in got["tinyunet"][0]["table"]}


def memory_part(rounds) -> dict:
    got = alternate("memory", rounds, 0)
    keys = ("rss_after_import_mib", "rss_after_warmup_mib", "peak_rss_mib")
    return {fw: {k: _per_round(a, lambda x, k=k: x[k]) for k in keys} for fw, a in got.items()}


def startup_part(rounds) -> dict:
    """tinyunet with an empty numba cache, then the same cache again; torch as it comes."""
    out = {"cold": [], "warm": [], "torch": []}
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            env = {"NUMBA_CACHE_DIR": cache}
            out["cold"].append(run_child("startup", "tinyunet", 0, env))
            out["warm"].append(run_child("startup", "tinyunet", 0, env))
        out["torch"].append(run_child("startup", "torch", 0))
        print(f"  startup round {r + 1}/{rounds}", flush=True)
    res = {}
    for k, answers in out.items():
        res[k] = {m: _per_round(answers, lambda a, m=m: a[m]) for m in ("import_s",
                                                                        "first_step_s")}
        res[k]["total_s"] = _per_round(answers, lambda a: a["import_s"] + a["first_step_s"])
    res["compiled_on_import"] = out["warm"][0]["compiled_on_import"]
    return res


def extra_part(name, rounds) -> dict:
    """A part from EXTRA_PARTS, run in a process of its own (whatever it imports stays
    there)."""
    module, run, _ = EXTRA_PARTS[name]
    code = (f"import json, benchmarks.{module} as m; "
            f"print(json.dumps(m.{run}({int(rounds)})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_environment(),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark part {name!r} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    probe = ("import json, numpy, numba, torch, platform; print(json.dumps({'numpy': "
             "numpy.__version__, 'numba': numba.__version__, 'torch': torch.__version__}))")
    versions = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                         text=True, check=True, env=clean_environment()).stdout)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "os": platform.platform(),
            "python": platform.python_version(), **versions,
            "started": time.strftime("%Y-%m-%d %H:%M"), "load_average": os.getloadavg()}


def run(only=None, quick=False, res=None) -> dict:
    """Measure the parts (``only`` some of them, into the earlier results ``res``)."""
    plan = QUICK if quick else PLAN
    parts = list(plan) + list(EXTRA_PARTS)
    res = dict(res or {})
    res.update(machine=machine(), plan={p: plan[p] for p in plan})
    loads = res.setdefault("loads", {})
    for part in parts:
        if only and part not in only:
            continue
        print(f"{part} ...", flush=True)
        t, load = time.perf_counter(), os.getloadavg()
        if part in EXTRA_PARTS:
            res[part] = extra_part(part, plan["step"][0])
        elif part in ("step", "inference", "ceiling"):
            res[part] = timed_part(part, *plan[part])
        elif part in ("layers", "ops"):
            res[part] = table_part(part, *plan[part])
        elif part == "memory":
            res[part] = memory_part(plan[part][0])
        elif part == "startup":
            res[part] = startup_part(plan[part][0])
        elif part == "breakdown":
            res[part] = run_child("breakdown", "tinyunet", plan[part][1])
        elif part == "accuracy":  # not a timing: both frameworks in one process
            res[part] = run_child("accuracy", "tinyunet", 0)["rows"]
        loads[part] = {"start": load, "end": os.getloadavg(),
                       "when": time.strftime("%Y-%m-%d %H:%M")}
        print(f"{part} done in {time.perf_counter() - t:.0f} s", flush=True)
        _save(res)  # a long run keeps what it has if a later part fails
    res["machine"]["load_average_end"] = os.getloadavg()
    return res


def _save(res):
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(res, f, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m benchmarks\n  python -m benchmarks --quick --no-write\n"
               "  python -m benchmarks --only step inference   # the others kept from the "
               "last run")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and repeats")
    parser.add_argument("--only", nargs="*", metavar="PART",
                        help=f"some of: {' '.join(list(PLAN) + list(EXTRA_PARTS))}")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; write neither RESULTS.md nor the chart")
    args = parser.parse_args(argv)
    earlier = None
    if args.only and os.path.exists(os.path.join(HERE, "results.json")):
        with open(os.path.join(HERE, "results.json")) as f:
            earlier = json.load(f)  # --only remeasures those parts and keeps the others
    res = run(args.only, args.quick, earlier)
    if not args.no_write:
        from .report import write_report

        write_report(res, HERE)
        print(f"wrote {os.path.join(HERE, 'RESULTS.md')} and results.png")
