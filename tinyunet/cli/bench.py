"""``tinyunet bench``: the benchmarks in ``benchmarks/``, from the command line."""

from __future__ import annotations

from .common import command


def add_bench(commands):
    p = command(
        commands, "bench", "time tinyunet against PyTorch CPU, side by side (needs torch)",
        description=(
            "Run the benchmarks in benchmarks/ (the same as `python -m benchmarks`): every conv\n"
            "layer of the reference U-Net, pooling, concat, upsampling, the full training step,\n"
            "512x512 inference, peak memory and start-up time, each against PyTorch CPU in the\n"
            "same run. Writes benchmarks/RESULTS.md and a chart unless --no-write."),
        examples=["tinyunet bench --quick", "tinyunet bench --only step layers"])
    p.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    p.add_argument("--only", nargs="*", metavar="PART",
                   help="some of: layers ops step inference processes")
    p.add_argument("--no-write", action="store_true", help="print only, write no files")
    p.set_defaults(run=run_bench)


def run_bench(args) -> int:
    from benchmarks.harness import main as bench_main

    argv = (["--quick"] if args.quick else []) + (["--no-write"] if args.no_write else [])
    if args.only:
        argv += ["--only", *args.only]
    bench_main(argv)
    return 0
