"""Time tinyunet against PyTorch CPU in one run, interleaved, with the same thread count.

Every measurement is a median over ``repeats`` timed runs after ``warmup`` untimed ones. The
two frameworks alternate run by run, so a burst of load from elsewhere hits both. Backward is
timed alone: each run does an untimed forward, then times ``backward``.
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

import numpy as np

import tinyunet as tu  # first: sets the thread policy before NumPy's BLAS starts threads
import tinyunet.functional as F
from tinyunet import threads

from .models import PARAMETERS, forward_flop, reference_layers, tinyunet_unet, torch_unet

HERE = os.path.dirname(os.path.abspath(__file__))


def side_by_side(ours, theirs, repeats, warmup=1, setup=None):
    """Median seconds of ``ours()`` and ``theirs()``, alternating; ``setup(which)`` untimed."""
    times = {"tinyunet": [], "torch": []}
    for i in range(warmup + repeats):
        for which, fn in (("tinyunet", ours), ("torch", theirs)):
            if setup is not None:
                setup(which)
            t = time.perf_counter()
            fn()
            dt = time.perf_counter() - t
            if i >= warmup:
                times[which].append(dt)
    return statistics.median(times["tinyunet"]), statistics.median(times["torch"])


def sgemm_ceiling(torch, n=2048, repeats=5):
    """float32 matmul GFLOP/s: NumPy's OpenBLAS on all cores, and torch.mm; the best is the
    machine's practical ceiling for the FLOP-heavy part of a conv."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    at = torch.from_numpy(a)
    before = threads.get_blas_threads()
    threads.set_blas_threads(threads.num_threads())
    t_np, t_torch = side_by_side(lambda: a @ a, lambda: at @ at, repeats)
    if before is not None:
        threads.set_blas_threads(before)
    flop = 2.0 * n**3
    return {"numpy_openblas": flop / t_np / 1e9, "torch": flop / t_torch / 1e9}


# ----- layers ---------------------------------------------------------------------------------


def bench_layer(torch, layer, batch, repeats):
    """Forward and backward (input, weight and bias gradients) of one conv layer."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, layer.c_in, layer.size, layer.size)).astype(np.float32)
    w_shape = ((layer.c_in, layer.c_out) if layer.transposed else (layer.c_out, layer.c_in))
    w = (rng.standard_normal(w_shape + (layer.k, layer.k)) * 0.1).astype(np.float32)
    b = np.zeros(layer.c_out, np.float32)
    out = layer.out_size()
    g = rng.standard_normal((batch, layer.c_out, out, out)).astype(np.float32)
    needs_x = layer.c_in != 1  # the first conv sees the image: no input gradient in training
    pad = 0 if layer.k != 3 else 1
    stride = 2 if layer.transposed else 1

    xs = {"tinyunet": [tu.Tensor(a, requires_grad=r) for a, r in ((x, needs_x), (w, 1), (b, 1))],
          "torch": [torch.tensor(a, requires_grad=bool(r)) for a, r in
                    ((x, needs_x), (w, 1), (b, 1))]}

    def forward(which):
        xt, wt, bt = xs[which]
        if which == "torch":
            f = torch.nn.functional
            return (f.conv_transpose2d(xt, wt, bt, stride=stride) if layer.transposed
                    else f.conv2d(xt, wt, bt, padding=pad))
        return (F.conv_transpose2d(xt, wt, bt, stride=stride) if layer.transposed
                else F.conv2d(xt, wt, bt, padding=pad))

    fwd = side_by_side(lambda: forward("tinyunet"), lambda: forward("torch"), repeats)
    pending, gt = {}, torch.from_numpy(g)

    def setup(which):
        for t in xs[which]:
            t.grad = None
        pending[which] = forward(which)

    bwd = side_by_side(lambda: pending["tinyunet"].backward(g),
                       lambda: pending["torch"].backward(gt), repeats, setup=setup)
    flop = layer.forward_flop(batch)
    return {"name": layer.name, "fwd": fwd, "bwd": bwd, "fwd_flop": flop,
            "bwd_flop": flop * (2 if needs_x else 1)}


def bench_ops(torch, batch, repeats):
    """Max-pool, concat and upsampling at the sizes of the U-Net's top level."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, 16, 128, 128)).astype(np.float32)
    s = rng.standard_normal((batch, 32, 64, 64)).astype(np.float32)
    f = torch.nn.functional
    cases = [
        ("max_pool2d 2x2 16@128", lambda t: F.max_pool2d(t[0], 2),
         lambda t: f.max_pool2d(t[0], 2), [a]),
        ("cat 16+16@128", lambda t: F.cat(t, dim=1), lambda t: torch.cat(t, dim=1), [a, a]),
        ("upsample nearest x2 32@64", lambda t: F.interpolate(t[0], scale_factor=2),
         lambda t: f.interpolate(t[0], scale_factor=2), [s]),
        ("upsample bilinear x2 32@64",
         lambda t: F.interpolate(t[0], scale_factor=2, mode="bilinear", align_corners=False),
         lambda t: f.interpolate(t[0], scale_factor=2, mode="bilinear", align_corners=False),
         [s]),
    ]
    return [{"name": name, **_bench_op(torch, ours, theirs, arrays, repeats)}
            for name, ours, theirs, arrays in cases]


def _bench_op(torch, ours, theirs, arrays, repeats):
    xs = {"tinyunet": [tu.Tensor(x, requires_grad=True) for x in arrays],
          "torch": [torch.tensor(x, requires_grad=True) for x in arrays]}
    fns = {"tinyunet": ours, "torch": theirs}
    fwd = side_by_side(lambda: ours(xs["tinyunet"]), lambda: theirs(xs["torch"]), repeats)
    pending, grads = {}, {}

    def setup(which):
        for t in xs[which]:
            t.grad = None
        y = pending[which] = fns[which](xs[which])
        if which not in grads:
            g = np.ones(y.shape, np.float32)
            grads[which] = g if which == "tinyunet" else torch.from_numpy(g)

    bwd = side_by_side(lambda: pending["tinyunet"].backward(grads["tinyunet"]),
                       lambda: pending["torch"].backward(grads["torch"]), repeats, setup=setup)
    return {"fwd": fwd, "bwd": bwd}


# ----- the whole network ----------------------------------------------------------------------


def bench_training_step(torch, batch, size, repeats):
    """Forward, cross-entropy, backward, SGD on the reference U-Net, both frameworks."""
    from tinyunet.optim import SGD

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, (batch, size, size))
    ours, theirs = tinyunet_unet(), torch_unet()
    for name, model in (("tinyunet", ours.parameters()), ("torch", theirs.parameters())):
        count = sum(int(np.prod(p.shape)) for p in model)
        assert count == PARAMETERS, f"{name} U-Net has {count} parameters, not {PARAMETERS}"
    opt, topt = SGD(ours.parameters(), lr=0.01), torch.optim.SGD(theirs.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step_ours():
        opt.zero_grad()
        F.cross_entropy(ours(tu.Tensor(x)), y).backward()
        opt.step()

    def step_torch():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
        topt.step()

    return side_by_side(step_ours, step_torch, repeats, warmup=2)


def bench_inference(torch, size, repeats):
    """One size x size image through the U-Net, no gradients."""
    x = np.random.default_rng(0).standard_normal((1, 1, size, size)).astype(np.float32)
    ours, theirs = tinyunet_unet(), torch_unet()
    xt = torch.from_numpy(x)

    def infer_ours():
        with tu.no_grad():
            ours(x)

    def infer_torch():
        with torch.no_grad():
            theirs(xt)

    return side_by_side(infer_ours, infer_torch, repeats)


def in_subprocess(mode, framework, env=None):
    out = subprocess.run([sys.executable, "-m", "benchmarks.child", mode, framework],
                         cwd=os.path.dirname(HERE), env={**os.environ, **(env or {})},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_processes():
    """Peak memory (each framework alone in its process) and startup, cold and warm cache."""
    res = {"memory": {fw: in_subprocess("memory", fw) for fw in ("tinyunet", "torch")}}
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        res["startup_cold"] = in_subprocess("startup", "tinyunet", env)
        res["startup_warm"] = in_subprocess("startup", "tinyunet", env)
    res["startup_torch"] = in_subprocess("startup", "torch")
    return res


# ----- the run --------------------------------------------------------------------------------


def machine(torch):
    import numba

    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": model, "cores": threads.num_threads(), "os": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "torch": torch.__version__, "tinyunet": tu.__version__,
        "torch_threads": torch.get_num_threads(), "tinyunet_threads": threads.num_threads(),
        "load_average": os.getloadavg(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
                                               "OPENBLAS_THREAD_TIMEOUT", "NUMBA_NUM_THREADS")},
    }


def run(quick=False, only=None):
    import torch

    torch.set_num_threads(threads.num_threads())  # the same thread count for both
    tu.set_kernels("numba")
    repeats = 3 if quick else 7
    res = {"machine": machine(torch)}

    def want(part):
        return only is None or part in only

    res["ceiling"] = sgemm_ceiling(torch, repeats=repeats)
    print("sgemm GFLOP/s", res["ceiling"], flush=True)
    if want("layers"):
        res["layers"] = []
        for layer in reference_layers(128):
            r = bench_layer(torch, layer, 8, repeats)
            res["layers"].append(r)
            print(f"{r['name']:28s} fwd {r['fwd'][0]*1e3:7.1f} / {r['fwd'][1]*1e3:7.1f} ms"
                  f"   bwd {r['bwd'][0]*1e3:7.1f} / {r['bwd'][1]*1e3:7.1f} ms", flush=True)
    if want("ops"):
        res["ops"] = bench_ops(torch, 8, repeats)
        for r in res["ops"]:
            print(f"{r['name']:28s} fwd {r['fwd'][0]*1e3:7.1f} / {r['fwd'][1]*1e3:7.1f} ms"
                  f"   bwd {r['bwd'][0]*1e3:7.1f} / {r['bwd'][1]*1e3:7.1f} ms", flush=True)
    if want("step"):
        res["step"] = bench_training_step(torch, 8, 128, repeats)
        res["step_flop"] = 3 * forward_flop(8, 128)
        print("training step", res["step"], flush=True)
    if want("inference"):
        res["inference"] = bench_inference(torch, 512, repeats)
        res["inference_flop"] = forward_flop(1, 512)
        print("inference 512", res["inference"], flush=True)
    if want("processes"):
        res["processes"] = bench_processes()
        print(json.dumps(res["processes"]), flush=True)
    res["machine"]["load_average_end"] = os.getloadavg()
    return res


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--only", nargs="*", help="layers ops step inference processes")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    res = run(args.quick, args.only)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    if not args.no_write:
        from .report import write_report

        write_report(res, HERE)
