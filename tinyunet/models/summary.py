"""``summary(model, input_shape)``: the lesson's size trace as a table.

Runs one forward pass on zeros and records, in call order, each stage of the model (its direct
children, looking inside ModuleList/Sequential containers, so each is named by its level:
``encoder.1``, ``pool.1``, ``skip.1``): output shape, channels and parameters. A skip
connection shows its concatenation, e.g. ``256 + 128 -> 384``, and, with 'valid' padding, the
center crop of the encoder map it takes, e.g. ``crop 136->104``.

A variant of the U-Net names the part it changes (``changes``, ``changed_stages`` class
attributes, see ``unet.py``): its rows are marked ``*`` and a legend line says what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch

import numpy as np

from .. import nn
from ..grad_mode import no_grad
from ..tensor import Tensor


@dataclass
class Row:
    name: str
    layer: str
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...]
    params: int

    @property
    def input_channels(self) -> list[int]:
        return [shape[1] for shape in self.input_shapes]

    @property
    def crop(self) -> str:
        """``crop 136->104`` where a stage takes a larger map beside a smaller one (the skip of a
        'valid' U-Net), else ''."""
        sizes = [shape[2:] for shape in self.input_shapes]
        if len(sizes) < 2 or len(set(sizes)) == 1:
            return ""
        big, small = max(sizes), min(sizes)
        side = (lambda s: str(s[0])) if all(len(set(s)) == 1 for s in sizes) else (
            lambda s: "x".join(map(str, s)))
        return f"crop {side(big)}->{side(small)}"

    @property
    def channels(self) -> str:
        out = str(self.output_shape[1]) if len(self.output_shape) > 1 else "-"
        if len(self.input_channels) > 1:  # a concatenation: show what was stacked
            return " + ".join(map(str, self.input_channels)) + f" -> {out}"
        return out


def _stages(module: nn.Module, prefix: str = ""):
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        if isinstance(child, (nn.ModuleList, nn.Sequential)):
            yield from _stages(child, full + ".")
        else:
            yield full, child


def trace(model: nn.Module, input_shape, **forward_kwargs) -> list[Row]:
    """One ``Row`` per stage call, in the order the forward pass makes them (``forward_kwargs``
    go to the model, e.g. ``prune=2`` for a U-Net++)."""
    rows: list[Row] = []
    originals = []
    for name, stage in _stages(model):
        forward = stage.forward

        def recorded(*args, _name=name, _stage=stage, _forward=forward):
            out = _forward(*args)
            shapes = [tuple(a.shape) for a in args if isinstance(a, Tensor) and a.ndim > 1]
            params = sum(p.numel() for p in _stage.parameters())
            rows.append(Row(_name, type(_stage).__name__, shapes, tuple(out.shape), params))
            return out

        stage.forward = recorded  # an instance attribute shadows the class's forward
        originals.append(stage)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(Tensor(np.zeros(input_shape, dtype=np.float32)), **forward_kwargs)
    finally:
        for stage in originals:
            del stage.forward
        model.train(was_training)
    return rows


def changed(model: nn.Module, name: str) -> bool:
    """Is stage ``name`` part of what this variant changes from the plain U-Net?"""
    return any(fnmatch(name, pattern) for pattern in getattr(model, "changed_stages", ()))


def summary(model: nn.Module, input_shape, print_fn=print, **forward_kwargs) -> str:
    """Print (and return) the size trace of ``model`` on an input of ``input_shape``; a variant
    of the U-Net has the stages it changes marked ``*`` and explained under the table."""
    rows = trace(model, input_shape, **forward_kwargs)
    shape = max([22] + [len(str(r.output_shape)) + 2 for r in rows])  # 5-D shapes are longer
    width = 82 + shape
    lines = [f"  {'stage':<14}{'layer':<16}{'output shape':<{shape}}{'channels':<22}"
             f"{'params':>12}  {'note'}", "-" * width,
             f"  {'input':<14}{'':<16}{str(tuple(input_shape))}"]
    for r in rows:
        params = f"{r.params:,}" if r.params else ""
        mark = "* " if changed(model, r.name) else "  "
        lines.append(f"{mark}{r.name:<14}{r.layer:<16}{str(r.output_shape):<{shape}}"
                     f"{r.channels:<22}{params:>12}  {r.crop}".rstrip())
    total = sum(p.numel() for p in model.parameters())
    lines += ["-" * width, f"total parameters: {total:,}"]
    if getattr(model, "changes", None):
        lines.append(f"* changed from the plain U-Net ({type(model).__name__}): {model.changes}")
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
