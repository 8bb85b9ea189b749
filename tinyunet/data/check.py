"""What training would see in a folder of images and masks, and everything wrong with it.

``tinyunet data check DIR`` prints :func:`check_data`'s report: per split, the number of files
and samples (pages), their sizes, bit depths and intensity ranges, what the masks hold
(classes or instance labels, how many objects, how many of them touch) and the class balance;
then every problem, each naming its file. *Problems* stop training (training raises the same
ones); *warnings* would train, but probably not as meant.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import targets as T
from .files import bit_depth
from .folder import find_pairs, read_pair

SATURATED = 0.01   # warn when more than 1 % of an image's pixels sit at its dtype's maximum


@dataclass
class SplitReport:
    """One split's statistics and findings."""

    name: str
    root: Path
    percentiles: tuple = (1.0, 99.8)
    files: int = 0
    samples: int = 0
    sizes: Counter = field(default_factory=Counter)          # (H, W) -> samples
    size_of: dict = field(default_factory=dict)              # file -> (H, W)
    depths: Counter = field(default_factory=Counter)         # '16-bit' -> files
    channels: Counter = field(default_factory=Counter)       # C -> files
    channel_of: dict = field(default_factory=dict)           # file -> C
    kinds: Counter = field(default_factory=Counter)          # mask kind -> files
    low: list = field(default_factory=list)                  # per file: min, P_low, P_high, max
    classes: Counter = field(default_factory=Counter)        # class -> pixels
    objects: int = 0
    touching: int = 0                                        # objects touching another
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def size_problems(sizes: dict, crop: int | None, batch_size: int, depth: int) -> list[str]:
    """What stops batches being cut or stacked from images of these sizes (``{name: (H,
    W)}``); each message names an offending image and says what to change."""
    if not sizes:
        return []
    step = 2**depth
    name, small = min(sizes.items(), key=lambda item: min(item[1]))
    smallest = min(small)
    if crop and crop > smallest:
        fits = smallest // step * step
        hint = f"--crop {fits}" if fits else "--crop 0 and a smaller --depth"
        return [f"{name} is {small[0]}x{small[1]} px, too small for --crop {crop}: use "
                f"{hint} (a multiple of 2**depth = {step})"]
    if not crop and batch_size > 1 and len(set(sizes.values())) > 1:
        first, other = next(iter(sizes.items())), None
        other = next(item for item in sizes.items() if item[1] != first[1])
        return [f"{other[0]} is {other[1][0]}x{other[1][1]} px but {first[0]} is "
                f"{first[1][0]}x{first[1][1]}: images of different sizes cannot be stacked "
                f"into batches; train on crops (--crop {max(step, smallest // step * step)}) "
                f"or use --batch-size 1"]
    return []


def _touching(labels: np.ndarray) -> int:
    """How many objects touch another one."""
    touch = T.contact(labels)
    return len(np.unique(labels[touch]))


def check_split(name: str, root: Path, num_classes: int = 2,
                percentiles=(1.0, 99.8)) -> SplitReport:
    """Read every pair under ``root`` (``images/`` + ``masks/``) and gather the report."""
    report = SplitReport(name, Path(root), tuple(percentiles))
    pairs, report.problems = find_pairs(root)
    for image_path, mask_path in pairs:
        pair = read_pair(image_path, mask_path, num_classes)
        report.problems += pair.problems
        if pair.raw is None or pair.mask is None:
            continue
        raw, mask = pair.raw, pair.mask
        report.files += 1
        report.samples += len(raw)
        report.sizes.update([tuple(raw.shape[2:])] * len(raw))
        report.size_of[str(image_path)] = tuple(raw.shape[2:])
        report.depths[bit_depth(raw.dtype)] += 1
        report.channels[raw.shape[1]] += 1
        report.channel_of[image_path.name] = raw.shape[1]
        finite = raw[np.isfinite(raw)] if raw.dtype.kind == "f" else raw
        if finite.size:
            report.low.append((float(finite.min()), *np.percentile(finite, percentiles),
                               float(finite.max())))
        if raw.dtype.kind in "ui":
            top = float((raw == np.iinfo(raw.dtype).max).mean())
            if top > SATURATED:
                report.warnings.append(f"{image_path}: {100 * top:.1f} % of its pixels are "
                                       f"saturated (at {np.iinfo(raw.dtype).max}); percentile "
                                       f"scaling keeps the rest, but they are lost")
        for page, sample in enumerate(raw):
            lo, hi = np.percentile(sample, percentiles)
            if hi <= lo:
                report.warnings.append(f"{image_path}{_page(page, raw)}: flat between the "
                                       f"{percentiles[0]:g}th and {percentiles[1]:g}th "
                                       f"percentiles; percentile scaling makes it all 0")
        if pair.kind and not pair.problems:
            report.kinds[pair.kind] += 1
            for page, m in enumerate(mask):
                labels = T.instances_of(m, pair.kind)
                report.objects += int(len(np.unique(labels)) - (labels == 0).any())
                report.touching += _touching(labels)
                target = m if pair.kind == "classes" else T.foreground(labels)
                report.classes.update(dict(zip(*np.unique(target, return_counts=True))))
                if not target.any():
                    report.warnings.append(f"mask {mask_path}{_page(page, mask)} is all "
                                           f"background")
    return report


def _page(page: int, stack) -> str:
    return f" (page {page})" if len(stack) > 1 else ""


def splits_of(root) -> list[tuple[str, Path]]:
    """The splits training reads from ``root``: train/ and val/, or the folder itself."""
    root = Path(root)
    if (root / "train").is_dir() or (root / "val").is_dir():
        return [("train", root / "train"), ("val", root / "val")]
    return [("all", root)]


def check_data(root, num_classes: int = 2, crop: int | None = 64, batch_size: int = 8,
               depth: int = 4, percentiles=(1.0, 99.8),
               target: str = "classes") -> list[SplitReport]:
    """A :class:`SplitReport` per split, with the problems of training on it as set up
    (``target="three_class"`` reads every mask as instance labels, as training does)."""
    holds = num_classes if target == "classes" else 2
    reports = [check_split(name, path, holds, percentiles) for name, path in splits_of(root)]
    for report in reports:
        if report.name != "val":   # validation runs one whole image at a time
            report.problems += size_problems(report.size_of, crop, batch_size, depth)
        if len(report.channels) > 1:
            by_file = ", ".join(f"{name}: {c}" for name, c in report.channel_of.items())
            report.problems.append(f"images with different numbers of channels ({by_file}); "
                                   f"one model takes one")
    return reports


def describe(report: SplitReport, batch_size: int = 8) -> list[str]:
    """The report of a split as lines of text."""
    held = " (the last fifth of the images is held out for validation)" \
        if report.name == "all" else ""
    lines = [f"{report.name}: {report.root}{held}"]
    if not report.files:
        return lines + ["  no readable image/mask pairs"]
    pages = f" ({report.samples} samples: stacks give one per page)" \
        if report.samples != report.files else ""
    lines.append(f"  {report.files} image(s){pages}")
    sizes = ", ".join(f"{h}x{w}" + (f" (x{n})" if n > 1 else "")
                      for (h, w), n in sorted(report.sizes.items()))
    lines.append(f"  sizes (H x W): {sizes}")
    lines.append("  bit depth: " + ", ".join(f"{d} ({n})" for d, n in report.depths.items())
                 + "; channels: " + ", ".join(f"{c} ({n})" for c, n in report.channels.items()))
    low = np.array(report.low)
    lo, hi = report.percentiles
    lines.append(f"  intensity: min {low[:, 0].min():g}, max {low[:, 3].max():g}; per image "
                 f"the percentiles P{lo:g} = {low[:, 1].min():g}..{low[:, 1].max():g} and "
                 f"P{hi:g} = {low[:, 2].min():g}..{low[:, 2].max():g} (scaled to 0 and 1)")
    kinds = ", ".join(f"{k} ({n})" for k, n in report.kinds.items())
    lines.append(f"  masks: {kinds or 'none readable'}; {report.objects} objects, "
                 f"{report.touching} of them touching another")
    total = sum(report.classes.values())
    if total:
        lines.append("  class balance: " + ", ".join(
            f"class {c}: {100 * n / total:.1f} %" for c, n in sorted(report.classes.items())))
    if report.samples < batch_size and report.name != "val":
        lines.append(f"  {report.samples} samples < batch size {batch_size}: training draws "
                     f"random crops, repeating the images so every batch is full")
    if report.touching and report.name != "val":
        lines.append("  touching objects: to keep them apart, try --loss weighted_ce or "
                     "--target three_class (instance label masks)")
    return lines
