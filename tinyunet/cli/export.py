"""``tinyunet export --torch``: a checkpoint as a folder PyTorch can load, train and scale out."""

from __future__ import annotations

import sys

from .common import command


def add_export(commands):
    p = command(
        commands, "export", "export a checkpoint to PyTorch (weights, model.py, train_ddp.py)",
        description=(
            "Write a checkpoint as a folder PyTorch uses without tinyunet:\n"
            "  model.safetensors      the state_dict (PyTorch's keys and layouts)\n"
            "  arch.json              the architecture, the training config, the run's step\n"
            "  model.py               the network in plain PyTorch, with its loaders\n"
            "  optimizer.safetensors  the optimizer state in PyTorch's format\n"
            "  train_ddp.py, data/    a training script for torchrun (DistributedDataParallel)\n"
            "                         and the run's data (training checkpoints)\n"
            "Continue training with: torchrun --standalone --nproc-per-node=N OUT/train_ddp.py\n"
            "and come back with: tinyunet import --torch OUT/ddp/model.safetensors --arch\n"
            "OUT/ddp/arch.json back.safetensors"),
        examples=["tinyunet export --torch runs/demo/last.safetensors runs/demo_torch",
                  "torchrun --standalone --nproc-per-node=2 runs/demo_torch/train_ddp.py "
                  "--steps 100"])
    p.add_argument("--torch", action="store_true", required=True,
                   help="export for PyTorch (the one format so far)")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a tinyunet checkpoint (last/best.safetensors, or diffuse's "
                        "model.safetensors)")
    p.add_argument("out", metavar="OUT", help="the folder to write (created)")
    p.add_argument("--no-data", action="store_true",
                   help="leave out data/ (train_ddp.py --data DIR reads it from elsewhere)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_export)


def run_export(args) -> int:
    from ..interop import export_torch
    from ..interop.settings import NotCarried

    try:
        written = export_torch(args.checkpoint, args.out, data=not args.no_data,
                               progress=not args.no_progress)
    except NotCarried as err:  # a setting the PyTorch side has no counterpart for: say which
        print(f"tinyunet export: {err}", file=sys.stderr)
        return 2
    for path in written.values():
        print(path)
    if "train_ddp.py" in written:
        print(f"next: torchrun --standalone --nproc-per-node=2 {written['train_ddp.py']} "
              f"--steps 100")
    return 0
