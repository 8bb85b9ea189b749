"""``tinyunet bench``: the benchmarks in ``benchmarks/``, from the command line."""

from __future__ import annotations

from .common import command


def add_bench(commands):
    p = command(
        commands, "bench", "time tinyunet against PyTorch CPU, in separate processes (needs torch)",
        description=(
            "Run the benchmarks in benchmarks/ (the same as `python -m benchmarks`): every conv\n"
            "layer of the reference U-Net, pooling, concat, upsampling, the full training step,\n"
            "512x512 inference, peak memory and start-up time, each against PyTorch CPU, each\n"
            "framework in processes of its own (the tinyunet settings this process holds are\n"
            "kept out of theirs). Writes benchmarks/RESULTS.md and a chart unless --no-write."),
        examples=["tinyunet bench --quick", "tinyunet bench --only step layers"])
    p.add_argument("--quick", action="store_true", help="fewer rounds and repeats")
    p.add_argument("--only", nargs="*", metavar="PART",
                   help="some of: ceiling step inference memory startup layers ops breakdown "
                        "accuracy (the others are kept from the last run)")
    p.add_argument("--no-write", action="store_true", help="print only, write no files")
    p.set_defaults(run=run_bench)


def run_bench(args) -> int:
    from benchmarks.harness import main as bench_main

    argv = (["--quick"] if args.quick else []) + (["--no-write"] if args.no_write else [])
    if args.only:
        argv += ["--only", *args.only]
    bench_main(argv)
    return 0
