"""What becomes of each training setting on the PyTorch side.

An exported run continues under ``train_ddp.py`` only if every setting of its
:class:`~tinyunet.train.TrainConfig` reaches PyTorch: some go into ``model.py`` (the
architecture), some into ``data/`` (what the images and targets *are*: made at export, as the
run made them), the rest are read by the script from ``arch.json``. :data:`CARRIED` says where
each one goes; a setting it does not list, or a value the script has no counterpart for, makes
the export refuse, naming the setting, rather than write a script that fails on the other side.
"""

from __future__ import annotations

MODEL = "model.py (the architecture)"
DATA = "data/*.npz, made at export as the run made its data"
SCRIPT = "train_ddp.py, from arch.json"

CARRIED = {
    "data": DATA, "train_images": DATA, "val_images": DATA, "image_size": DATA,
    "normalize": DATA, "percentile_low": DATA, "percentile_high": DATA,  # the images, scaled
    "target": DATA,                                                      # the masks
    "w0": DATA, "sigma": DATA,                                           # the weight maps
    "num_classes": MODEL, "model": MODEL, "base_channels": MODEL, "depth": MODEL,
    "up_mode": MODEL, "padding": MODEL, "norm": MODEL,
    "crop": SCRIPT, "augment": SCRIPT, "optimizer": SCRIPT, "lr": SCRIPT, "loss": SCRIPT,
    "batch_size": SCRIPT, "epochs": SCRIPT, "steps_per_epoch": SCRIPT, "anneal": SCRIPT,
    "seed": SCRIPT,
    "device": "train_ddp.py --device (a GPU per process where there are GPUs)",
    "max_seconds": "train_ddp.py --steps (a wall-clock budget does not travel: say the steps)",
}

# the values train_ddp.py interprets itself (its LOSSES and make_optimizer; tests hold them equal)
SCRIPT_VALUES = {
    "loss": ("dice_ce", "ce", "dice", "weighted_ce", "dice_weighted_ce"),
    "optimizer": ("adam", "adamw", "sgd"),
}


class NotCarried(ValueError):
    """A run whose settings train_ddp.py cannot reproduce; the message names each one."""


def check_carried(train_config: dict, source: str = "the checkpoint") -> None:
    """Raise :class:`NotCarried` naming every setting of ``train_config`` that train_ddp.py cannot
    carry: one :data:`CARRIED` does not know, or a value outside :data:`SCRIPT_VALUES`."""
    problems = [f"{name}={value!r}: a setting this export does not know how to carry"
                for name, value in train_config.items() if name not in CARRIED]
    problems += [f"{name}={train_config[name]!r}: train_ddp.py knows {list(known)}"
                 for name, known in SCRIPT_VALUES.items()
                 if name in train_config and train_config[name] not in known]
    if problems:
        raise NotCarried(f"{source}: export --torch cannot continue this run in PyTorch:\n  "
                         + "\n  ".join(problems))
