"""The 3-D training step, tinyunet against PyTorch CPU: ``python -m benchmarks.volume``.

The model is a small 3-D U-Net, ``UNet3D(in_channels=1, num_classes=2, base_channels=8,
depth=3, padding="same", norm=None)`` (1,192,610 parameters), and its PyTorch twin
(``tinyunet/torch_twins/unet3d.py``: the 2-D twin's skeleton with 3-D layers). One step: zero
the gradients, forward a batch of (N, 1, 64, 64, 64) float32 volumes, cross-entropy against
random labels, backward, SGD.

How it is measured, so that neither framework helps or hurts the other:

* each framework runs in a fresh process of its own (``--child``), one per round, the order
  alternating round by round, so that a burst of load from elsewhere hits both;
* each process starts from a clean copy of the environment: nothing tinyunet sets at import
  (``tinyunet/threads.py``: OMP_WAIT_POLICY, OPENBLAS_*, NUMBA_NUM_THREADS) reaches the
  PyTorch process, which imports torch and the twin's source file only, never the tinyunet
  package; each framework then picks its own threads as it does by default;
* a process runs ``warmup`` untimed steps (numba compiles or loads its cache there) and then
  ``steps`` timed ones, and reports their median; the result is, per framework, the median
  over rounds and the spread (the fastest and slowest round), and the ratio of the medians.

``run(rounds)`` returns the numbers as a dict, ``markdown(result)`` the section for
benchmarks/RESULTS.md. Timings never go in tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .harness import clean_environment

ROOT = Path(__file__).resolve().parent.parent
CONFIG = dict(in_channels=1, num_classes=2, base_channels=8, depth=3, padding="same",
              norm=None)
FRAMEWORKS = ("tinyunet", "torch")
# The variables tinyunet/threads.py may set: each child reports the values it ran with.
TINYUNET_ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY",
                        "NUMBA_NUM_THREADS")

# ----- one framework, in a process of its own ------------------------------------------------


def _torch_step(batch, size):
    import numpy as np
    import torch

    # the twins' package, loaded on its own under another name (their relative imports,
    # `from .unet import UNet`, resolve inside it): plain PyTorch, tinyunet is never imported
    folder = ROOT / "tinyunet" / "torch_twins"
    spec = importlib.util.spec_from_file_location(
        "torch_twins", folder / "__init__.py", submodule_search_locations=[str(folder)])
    twins = sys.modules["torch_twins"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twins)
    torch.manual_seed(0)
    model = twins.UNet3D(**CONFIG)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = (torch.from_numpy(a) for a in _batch(np, batch, size))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step, torch.get_num_threads()


def _tinyunet_step(batch, size):
    import numpy as np

    import tinyunet as tu  # first: its thread settings precede NumPy's BLAS
    import tinyunet.functional as F
    from tinyunet.models import UNet3D
    from tinyunet.optim import SGD

    tu.manual_seed(0)
    model = UNet3D(**CONFIG)
    optimizer = SGD(model.parameters(), lr=0.01)
    x, y = _batch(np, batch, size)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(tu.Tensor(x)), y).backward()
        optimizer.step()

    return step, tu.threads.num_threads()


def _batch(np, batch, size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, size, size, size)).astype(np.float32)
    return x, rng.integers(0, 2, (batch, size, size, size))


def child(framework: str, batch: int, size: int, steps: int, warmup: int) -> dict:
    """Build the model, run warmup + timed steps; the median of the timed ones."""
    step, threads = (_torch_step if framework == "torch" else _tinyunet_step)(batch, size)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tinyunet")
    return {"framework": framework, "median_s": statistics.median(times), "times_s": times,
            "threads": threads, "tinyunet_loaded": bool(loaded),
            "environment": {k: os.environ.get(k) for k in TINYUNET_ENVIRONMENT}}


# ----- the rounds ------------------------------------------------------------------------------


def machine() -> dict:
    """CPU model, the cores this process may use, Python."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores": cores, "python": platform.python_version()}


def _launch(framework, batch, size, steps, warmup) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.volume", "--child", framework, "--batch",
           str(batch), "--size", str(size), "--steps", str(steps), "--warmup", str(warmup)]
    done = subprocess.run(cmd, cwd=ROOT, env=clean_environment(), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.volume: the {framework} process failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if framework == "torch" and result["tinyunet_loaded"]:
        raise RuntimeError("benchmarks.volume: the PyTorch process imported tinyunet")
    return result


def run(rounds: int = 5, batch: int = 2, size: int = 64, steps: int = 3, warmup: int = 1,
        progress: bool = True) -> dict:
    """Time both frameworks over ``rounds`` rounds of one process each; see the docstring."""
    from tqdm import tqdm

    per_round = {f: [] for f in FRAMEWORKS}
    load_before = os.getloadavg()
    bar = tqdm(total=2 * rounds, desc="3-D step", unit="process", disable=not progress)
    for r in range(rounds):
        order = FRAMEWORKS if r % 2 == 0 else FRAMEWORKS[::-1]
        for framework in order:
            bar.set_postfix_str(framework)
            per_round[framework].append(_launch(framework, batch, size, steps, warmup))
            bar.update()
    bar.close()
    summary = {}
    for f, results in per_round.items():
        medians = [r["median_s"] for r in results]
        summary[f] = {"median_s": statistics.median(medians), "min_s": min(medians),
                      "max_s": max(medians), "rounds_s": medians,
                      "threads": results[0]["threads"],
                      "environment": results[0]["environment"]}
    return {"config": dict(CONFIG, batch=batch, size=size, steps=steps, warmup=warmup,
                           rounds=rounds),
            "results": summary,
            "ratio": summary["tinyunet"]["median_s"] / summary["torch"]["median_s"],
            "load_average": {"before": load_before, "after": os.getloadavg()},
            "machine": machine()}


def markdown(result: dict) -> str:
    """The benchmark's section for benchmarks/RESULTS.md."""
    c, m = result["config"], result["machine"]
    lines = [
        "## 3-D training step (UNet3D, 64^3)",
        "",
        f"UNet3D(base {c['base_channels']}, depth {c['depth']}, '{c['padding']}', no norm), "
        f"batch {c['batch']} of {c['size']}^3 float32 volumes, cross-entropy, SGD. Each "
        f"framework in a fresh process per round with a clean environment, the order "
        f"alternating; {c['rounds']} rounds of {c['warmup']} untimed + {c['steps']} timed "
        f"steps; the median of each round's median, and the fastest and slowest round.",
        "",
        "| framework | threads | median s/step | fastest round | slowest round |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in FRAMEWORKS:
        r = result["results"][f]
        lines.append(f"| {f} | {r['threads']} | {r['median_s']:.2f} | {r['min_s']:.2f} | "
                     f"{r['max_s']:.2f} |")
    before, after = result["load_average"]["before"], result["load_average"]["after"]
    lines += ["", f"**tinyunet / PyTorch: {result['ratio']:.2f}x** (the target is at most "
              f"1.5x). Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load "
              f"average {before[0]:.2f} before, {after[0]:.2f} after.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.volume",
        description="Time a 3-D U-Net training step on 64^3 volumes, tinyunet vs PyTorch CPU, "
                    "each framework in processes of its own.",
        epilog="examples:\n  python -m benchmarks.volume\n"
               "  python -m benchmarks.volume --rounds 3 --batch 1 --markdown volume.md",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="processes per framework")
    parser.add_argument("--batch", type=int, default=2, help="volumes per step")
    parser.add_argument("--size", type=int, default=64, help="side of each volume")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per process")
    parser.add_argument("--markdown", metavar="PATH", help="also write the section here")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    parser.add_argument("--child", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.batch, args.size, args.steps, args.warmup)))
        return
    result = run(args.rounds, args.batch, args.size, args.steps, args.warmup)
    text = markdown(result)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
