"""``tinyunet import --torch``: a PyTorch state_dict back as a tinyunet checkpoint.
(The module is ``import_`` because ``import`` is a Python keyword.)"""

from __future__ import annotations

from .common import command


def add_import(commands):
    p = command(
        commands, "import", "import a PyTorch state_dict as a tinyunet checkpoint",
        description=(
            "Read a PyTorch state_dict (safetensors, or a torch.save .pt/.pth file; a DDP\n"
            "'module.' prefix is dropped) and the architecture (the export's arch.json) and\n"
            "write a tinyunet checkpoint that 'tinyunet predict' and load_model accept. A key\n"
            "that is missing, unexpected or of the wrong shape is named, with both shapes,\n"
            "and nothing is written."),
        examples=["tinyunet import --torch runs/demo_torch/ddp/model.safetensors "
                  "--arch runs/demo_torch/ddp/arch.json runs/back/best.safetensors",
                  "tinyunet import --torch net.pt --arch arch.json back.safetensors "
                  "--optimizer optimizer.safetensors"])
    p.add_argument("--torch", action="store_true", required=True,
                   help="import from PyTorch (the one format so far)")
    p.add_argument("state_dict", metavar="STATE_DICT",
                   help="the state_dict: .safetensors, or .pt/.pth (needs torch)")
    p.add_argument("--arch", required=True, metavar="ARCH.json",
                   help="the architecture: the export's arch.json (or its model.safetensors)")
    p.add_argument("out", metavar="OUT", help="the tinyunet checkpoint to write (.safetensors)")
    p.add_argument("--optimizer", default=None, metavar="OPTIMIZER.safetensors",
                   help="also bring back the optimizer state (the export's format, as "
                        "train_ddp.py writes it)")
    p.set_defaults(run=run_import)


def run_import(args) -> int:
    from ..interop import import_torch

    print(import_torch(args.state_dict, args.arch, args.out, optimizer=args.optimizer))
    return 0
