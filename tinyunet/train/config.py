"""A training run from one config: data, model, optimizer and loss, assembled into a Trainer.

:class:`TrainConfig` holds every setting (the CLI's ``tinyunet train`` options are its fields),
:func:`make_trainer` builds the run, :func:`train` builds it, fits it and draws its figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .. import random as tu_random
from ..data import DataLoader
from ..data.normalize import METHODS as NORMALIZE_METHODS
from ..data.targets import TARGETS
from ..models import FAMILY
from ..ops.dice import dice_ce_loss, dice_loss
from ..ops.loss import cross_entropy
from ..optim import SGD, Adam, AdamW
from .datasets import make_augmentation, make_datasets, training_set
from .evaluate import score
from .trainer import Trainer


def weighted_ce(logits, target, weights=None):
    """The U-Net paper's loss (eq. 1): cross-entropy with pixel x weighted by the map w(x)."""
    return cross_entropy(logits, target, pixel_weight=weights)


def dice_weighted_ce(logits, target, weights=None):
    """Soft Dice + the weighted cross-entropy."""
    return dice_loss(logits, target) + weighted_ce(logits, target, weights)


LOSSES = {"dice_ce": dice_ce_loss, "ce": cross_entropy, "dice": dice_loss,
          "weighted_ce": weighted_ce, "dice_weighted_ce": dice_weighted_ce}
LOSS_NAMES = {"dice_ce": "Dice + CE", "ce": "CE", "dice": "Dice", "weighted_ce": "weighted CE",
              "dice_weighted_ce": "Dice + weighted CE"}
OPTIMIZERS = {
    "adam": lambda params, lr: Adam(params, lr=lr),
    "adamw": lambda params, lr: AdamW(params, lr=lr),
    "sgd": lambda params, lr: SGD(params, lr=lr, momentum=0.9),
}


@dataclass
class TrainConfig:
    """Everything :func:`train` needs; saved in each checkpoint, so a resumed run rebuilds it.

    ``data``: ``"synthetic"`` (:class:`SyntheticCells`, held-out validation images from another
    seed), ``"nuclei"`` (touching fluorescence nuclei) or a folder holding ``train/`` and
    ``val/``, each ``images/`` + ``masks/`` (PNG or TIFF), or just ``images/`` + ``masks/``
    (:mod:`tinyunet.train.datasets`).

    ``normalize``: per-image ``"percentile"`` scaling between the ``percentile_low`` and
    ``percentile_high`` percentiles, ``"bitdepth"`` or ``"none"``
    (:mod:`tinyunet.data.normalize`); ``predict`` reads it from the checkpoint.
    ``target``: ``"classes"`` (the masks' classes; instance labels become foreground) or
    ``"three_class"`` (background, interior, boundary from instance labels; num_classes=3).
    ``w0``, ``sigma``: the weight map of the weighted losses (``weighted_ce``,
    ``dice_weighted_ce``), which also draw a background line between touching objects.
    """

    data: str = "synthetic"
    train_images: int = 128        # synthetic: images made (once, kept in memory)
    val_images: int = 16
    image_size: int = 128          # synthetic: side of each image
    crop: int | None = 64          # train on random crops of this side; None: whole images
    augment: bool = True           # random flips and 90-degree rotations
    num_classes: int = 2
    model: str = "unet"            # the U-Net family: unet, attention, residual or unetpp
    base_channels: int = 16
    depth: int = 4
    up_mode: str = "transposed"
    padding: str = "same"
    norm: str | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    loss: str = "dice_ce"
    batch_size: int = 8
    epochs: int | None = 10        # None: until max_seconds runs out
    steps_per_epoch: int | None = None
    max_seconds: float | None = None
    anneal: bool = False           # decay the lr linearly to 0 over the run
    seed: int = 0
    device: str = "cpu"            # 'cuda': the model and each batch on the GPU (CuPy)
    normalize: str = "percentile"  # per-image percentile scaling; 'bitdepth'; 'none'
    percentile_low: float = 1.0
    percentile_high: float = 99.8
    target: str = "classes"        # or 'three_class': background, interior, boundary
    w0: float = 10.0               # weighted losses: the border term's height ...
    sigma: float = 5.0             # ... and width in px (the U-Net paper's values)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown settings {unknown}")
        return cls(**values)

    def validate(self):
        trainable = sorted(name for name, cls in FAMILY.items() if cls.dims == 2)
        if self.model not in trainable:
            raise ValueError(f"unknown model {self.model!r}; valid choices are {trainable}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; valid choices are {sorted(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid choices are "
                             f"{sorted(OPTIMIZERS)}")
        if self.normalize not in NORMALIZE_METHODS:
            raise ValueError(f"unknown normalize {self.normalize!r}; valid choices are "
                             f"{list(NORMALIZE_METHODS)}")
        if not 0 <= self.percentile_low < self.percentile_high <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got "
                             f"{self.percentile_low}, {self.percentile_high}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; valid choices are "
                             f"{list(TARGETS)}")
        if self.target == "three_class" and self.num_classes != 3:
            raise ValueError(f"target 'three_class' (background, interior, boundary) needs "
                             f"num_classes=3, got {self.num_classes}")
        if self.crop is not None and self.crop % 2**self.depth:
            raise ValueError(f"crop {self.crop} must be a multiple of 2**depth = "
                             f"{2**self.depth}, or the pooling would drop pixels")


def make_trainer(config: TrainConfig, out_dir, progress: bool = True, callbacks=()) -> Trainer:
    """Data, model, optimizer and loss from ``config``, assembled into a :class:`Trainer`."""
    config.validate()
    tu_random.manual_seed(config.seed)  # the initial weights
    train_set, val_set = make_datasets(config)
    train_set = training_set(config, train_set)
    in_channels = int(np.asarray(train_set[0][0]).shape[0])
    model = FAMILY[config.model](in_channels=in_channels, num_classes=config.num_classes,
                 base_channels=config.base_channels, depth=config.depth,
                 padding=config.padding, up_mode=config.up_mode, norm=config.norm)
    model.to(config.device)
    train_loader = DataLoader(train_set, config.batch_size, shuffle=True, seed=config.seed,
                              drop_last=True, transform=make_augmentation(config))
    same_size = config.data in ("synthetic", "nuclei")  # folder images may differ in size
    val_loader = DataLoader(val_set, config.batch_size if same_size else 1)
    return Trainer(model, train_loader, val_loader, out_dir,
                   optimizer=OPTIMIZERS[config.optimizer](model.parameters(), config.lr),
                   loss_fn=LOSSES[config.loss], epochs=config.epochs,
                   steps_per_epoch=config.steps_per_epoch, max_seconds=config.max_seconds,
                   anneal=config.anneal, num_classes=config.num_classes, progress=progress,
                   config=asdict(config), callbacks=callbacks)


def train(config: TrainConfig, out_dir, resume: bool = False, progress: bool = True,
          figures: bool = True, callbacks=()) -> Trainer:
    """Build a :class:`Trainer` from ``config``, fit it, draw the figures; return the trainer.

    Figures (``curves.png``, ``predictions.png``) show the model as it is at the end of a run
    that completed or ran out of time.
    """
    trainer = make_trainer(config, out_dir, progress=progress, callbacks=callbacks)
    trainer.fit(resume=resume, lr=config.lr)  # a resumed run takes the config's lr
    if figures:
        draw_figures(trainer)
    return trainer


def draw_figures(trainer: Trainer, n_images: int = 4) -> dict:
    """Loss/Dice curves and a panel of validation predictions; returns {name: path}."""
    from .. import plots  # matplotlib only when figures are wanted

    paths = {"curves": trainer.out / "curves.png", "predictions": trainer.out / "predictions.png"}
    loss = trainer.config.get("loss", "dice_ce")
    plots.plot_curves(trainer.history, paths["curves"], LOSS_NAMES.get(loss, loss))
    images, masks = [], []
    for batch in _rewound(trainer.val_loader):
        images += list(batch[0])
        masks += list(batch[1])
        if len(images) >= n_images:
            break
    plots.plot_predictions(trainer.model, images[:n_images], masks[:n_images],
                           paths["predictions"],
                           dice=lambda pred, mask: score(pred, mask, trainer.num_classes)["dice"])
    return paths


def _rewound(loader):
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    return loader
