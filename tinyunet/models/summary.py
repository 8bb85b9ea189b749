"""``summary(model, input_shape)``: the lesson's size trace as a table.

Runs one forward pass on zeros and records, in call order, each stage of the model (its direct
children, looking inside ModuleList/Sequential containers): output shape, channels and
parameters. A skip connection shows its concatenation, e.g. ``256 + 128 -> 384``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..grad_mode import no_grad
from ..tensor import Tensor


@dataclass
class Row:
    name: str
    layer: str
    input_channels: list[int]
    output_shape: tuple[int, ...]
    params: int

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


def trace(model: nn.Module, input_shape) -> list[Row]:
    """One ``Row`` per stage call, in the order the forward pass makes them."""
    rows: list[Row] = []
    originals = []
    for name, stage in _stages(model):
        forward = stage.forward

        def recorded(*args, _name=name, _stage=stage, _forward=forward):
            out = _forward(*args)
            channels = [a.shape[1] for a in args if isinstance(a, Tensor) and a.ndim > 1]
            params = sum(p.numel() for p in _stage.parameters())
            rows.append(Row(_name, type(_stage).__name__, channels, out.shape, params))
            return out

        stage.forward = recorded  # an instance attribute shadows the class's forward
        originals.append(stage)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(Tensor(np.zeros(input_shape, dtype=np.float32)))
    finally:
        for stage in originals:
            del stage.forward
        model.train(was_training)
    return rows


def summary(model: nn.Module, input_shape, print_fn=print) -> str:
    """Print (and return) the size trace of ``model`` on an input of ``input_shape``."""
    rows = trace(model, input_shape)
    lines = [f"{'stage':<14}{'layer':<16}{'output shape':<22}{'channels':<18}{'params':>10}",
             "-" * 80, f"{'input':<14}{'':<16}{str(tuple(input_shape)):<22}"]
    for r in rows:
        params = f"{r.params:,}" if r.params else ""
        lines.append(f"{r.name:<14}{r.layer:<16}{str(tuple(r.output_shape)):<22}"
                     f"{r.channels:<18}{params:>10}")
    total = sum(p.numel() for p in model.parameters())
    lines += ["-" * 80, f"total parameters: {total:,}"]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
