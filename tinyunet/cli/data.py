"""``tinyunet data check DIR``: what training would see in a folder, and what is wrong."""

from __future__ import annotations

from .common import command


def add_data(commands):
    from ..train import TrainConfig

    defaults = TrainConfig()
    p = command(commands, "data", "look at a folder of images and masks before training",
                description="Tools for your own images. 'check' reads a folder as "
                            "'tinyunet train --data DIR' would.",
                examples=["tinyunet data check data/my_nuclei",
                          "tinyunet data check data/my_nuclei --crop 128 --batch-size 4"])
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    c = command(
        actions, "check", "print what training would see, and every problem",
        description=(
            "Read DIR as training would (DIR/train and DIR/val, each with images/ and masks/,\n"
            "or just DIR/images and DIR/masks; PNG or TIFF) and print, per split: the number\n"
            "of images and samples (a stack gives one per page), their sizes, bit depths and\n"
            "intensity ranges, what the masks hold (classes or instance labels, how many\n"
            "objects, how many touch) and the class balance. Then every problem, each with\n"
            "its file's name: problems stop training, warnings would train but probably not\n"
            "as meant. Exits with status 1 if there are problems."),
        examples=["tinyunet data check data/my_nuclei"])
    c.add_argument("dir", metavar="DIR", help="the folder to check")
    for option, key, kind, text in (
            ("--num-classes", "num_classes", int, "classes the masks may hold"),
            ("--crop", "crop", int, "side of the training crops (0: whole images)"),
            ("--batch-size", "batch_size", int, "images per step"),
            ("--depth", "depth", int, "poolings of the U-Net (crops are multiples of 2**depth)"),
            ("--percentile-low", "percentile_low", float, "percentile scaled to 0"),
            ("--percentile-high", "percentile_high", float, "percentile scaled to 1"),
            ("--target", "target", str, "classes, or three_class (masks read as instance "
                                        "labels)")):
        c.add_argument(option, dest=key, type=kind, default=getattr(defaults, key),
                       help=f"{text} (default: {getattr(defaults, key)})")
    c.set_defaults(run=run_check)
    p.set_defaults(run=lambda args: p.print_help() or 2)


def run_check(args) -> int:
    from ..data.check import check_data, describe

    reports = check_data(args.dir, num_classes=args.num_classes, crop=args.crop or None,
                         batch_size=args.batch_size, depth=args.depth,
                         percentiles=(args.percentile_low, args.percentile_high),
                         target=args.target)
    for report in reports:
        print("\n".join(describe(report, args.batch_size)))
    problems = [p for r in reports for p in r.problems]
    warnings = [w for r in reports for w in r.warnings]
    for title, found in (("problems", problems), ("warnings", warnings)):
        if found:
            print(f"\n{len(found)} {title}:" + "".join(f"\n  - {p}" for p in found))
    if problems:
        print("\ntraining would stop on these problems: fix them first")
        return 1
    print("\nno problems: ready for tinyunet train --data " + str(args.dir))
    return 0
