"""Training a segmentation network: the loop, and what makes a run trustworthy.

The loop itself is PyTorch's, five lines a step::

    logits = model(images)                  # (N, C, H, W): one score per class per pixel
    loss = loss_fn(logits, masks)           # Dice + cross-entropy by default
    optimizer.zero_grad()                   # gradients accumulate: clear the last step's
    loss.backward()
    optimizer.step()                        # Adam by default

Around it, what turns a loop into a run one can trust, compare and restart:

* an *epoch* is ``steps_per_epoch`` steps followed by validation on held-out images: the loss,
  Dice, IoU and pixel accuracy of the argmax masks (:mod:`tinyunet.metrics`), and the objects
  found and their average precision (:mod:`tinyunet.instance_metrics`);
* a checkpoint after every epoch, ``last.safetensors``, and the best one by validation Dice,
  ``best.safetensors`` (:mod:`tinyunet.io`). Each holds everything a restart needs: weights,
  optimizer moments, epoch and step, the state of the global generator
  (:mod:`tinyunet.random`), the data loader's position, the history, the model and training
  configs;
* ``fit(resume=True)`` continues from ``last.safetensors`` *exactly*: the loader draws its
  order and augmentations from ``(seed, epoch, index)``, so restoring its position replays the
  same batches, and the restored moments give the same updates. An interrupted run, resumed,
  ends with the same weights as an uninterrupted one;
* ``metrics.csv`` (one row per epoch) and ``metrics.json`` (the last scores, and the history);
* a NaN or inf loss stops the run with :class:`TrainingDiverged` before the bad update, and the
  last good checkpoint is left as it was. Ctrl-C saves the state of the last *completed* step
  to ``last.safetensors`` and then re-raises, so ``resume`` continues mid-epoch;
* ``max_seconds``: a wall-clock budget; when it runs out the run validates, saves and stops;
* ``anneal``: the learning rate decays linearly to zero over the run ("budgeted training", Li
  et al. 2020), so the run ends on small, careful steps instead of wherever Adam's noise was.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

from tqdm.auto import tqdm

from .. import io
from .. import random as tu_random
from ..backend import get_array_module, to_device
from ..instances import default_method
from ..ops.dice import dice_ce_loss
from ..optim import Adam
from ..predict import model_device
from ..tensor import Tensor
from .evaluate import crop_like, evaluate, score
from .interrupt import deferred_interrupt

INSTANCE_COLUMNS = ("val_ap", "val_ap50", "val_objects", "val_true_objects")
CSV_COLUMNS = ("epoch", "step", "train_loss", "train_dice", "val_loss", "val_dice", "val_iou",
               "val_pixel_accuracy", *INSTANCE_COLUMNS, "lr", "seconds")


class TrainingDiverged(RuntimeError):
    """The loss (or the logits, or the weights) stopped being finite numbers."""


# ----- the trainer -------------------------------------------------------------------------------
class Trainer:
    """Fit ``model`` on ``train_loader``, validating on ``val_loader`` after every epoch.

    Args:
        model: a Module returning logits (N, C, H, W); its ``config`` dict (if any) goes into
            the checkpoints, so :func:`tinyunet.predict.load_model` can rebuild it.
        train_loader: a :class:`DataLoader` of ``(images, masks[, labels[, weight maps]])``
            (weight maps go to ``loss_fn``), served as an endless stream: its own epochs roll
            over, so an epoch here need not be one pass over the data.
        val_loader: validation batches (a DataLoader, or any re-iterable of batches).
        out_dir: where checkpoints, metrics and figures go (created).
        optimizer: default ``Adam(model.parameters(), lr=1e-3)``.
        loss_fn: ``loss_fn(logits, masks) -> scalar Tensor``; default Dice + cross-entropy.
        epochs: number of epochs to train (a resumed run counts the ones already done);
            None: as many as ``max_seconds`` allows.
        steps_per_epoch: default one pass over ``train_loader``.
        max_seconds: wall-clock budget of this call of :meth:`fit`, validation included.
        anneal: decay the learning rate linearly from its initial value to 0 over the run:
            ``lr = lr_0 (1 - done)``, ``done`` the fraction of the ``epochs * steps_per_epoch``
            steps taken, or of ``max_seconds`` elapsed when the budget ends the run sooner
            (a clock-driven schedule: such a run repeats only up to timing).
        num_classes: default ``model.config["num_classes"]``.
        progress: show a tqdm bar during each epoch (a line per epoch is printed anyway).
        config: the training settings (a JSON-able dict) saved in every checkpoint.
        callbacks: ``cb(trainer)`` called after every optimizer step.
    """

    def __init__(self, model, train_loader, val_loader, out_dir, *, optimizer=None,
                 loss_fn=None, epochs: int | None = 10, steps_per_epoch: int | None = None,
                 max_seconds: float | None = None, anneal: bool = False,
                 num_classes: int | None = None, progress: bool = True,
                 config: dict | None = None, callbacks=()):
        self.model = model
        self.optimizer = optimizer or Adam(model.parameters(), lr=1e-3)
        self.loss_fn = loss_fn or dice_ce_loss
        self.train_loader, self.val_loader = train_loader, val_loader
        self.out = Path(out_dir)
        if epochs is None and max_seconds is None:
            raise ValueError("Trainer: give epochs, max_seconds or both; with neither the run "
                             "would never end")
        self.epochs = None if epochs is None else int(epochs)
        self.steps_per_epoch = int(steps_per_epoch or len(train_loader))
        if self.steps_per_epoch < 1:
            raise ValueError(f"Trainer: steps_per_epoch must be >= 1, got {self.steps_per_epoch} "
                             f"(is the training set smaller than one batch of "
                             f"{getattr(train_loader, 'batch_size', '?')}?)")
        self.max_seconds = max_seconds
        self.anneal = anneal
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        model_config = getattr(model, "config", {}) or {}
        self.num_classes = int(num_classes or model_config.get("num_classes", 2))
        self.progress = progress
        self.config = dict(config or {})
        self.callbacks = list(callbacks)
        # where the run is: everything below goes into a checkpoint
        self.epoch = 0                 # epochs completed
        self.step = 0                  # optimizer steps taken
        self.epoch_step = 0            # steps taken in the current epoch
        self.running = {"loss": 0.0, "dice": 0.0}  # sums over the current epoch's steps
        self.history: list[dict] = []  # one row per completed epoch
        self.best_dice: float | None = None
        self.seconds = 0.0             # training wall-clock, over every session of the run
        self.step_seconds = 0.0        # the part of it spent inside train_step
        self.status = "not started"
        self._position = None          # loader and RNG state after the last completed step

    @property
    def last_path(self) -> Path:
        return self.out / "last.safetensors"

    @property
    def best_path(self) -> Path:
        return self.out / "best.safetensors"

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ----- the run -------------------------------------------------------------------------
    def fit(self, resume: bool = False, lr: float | None = None) -> dict:
        """Train until ``epochs`` are done or ``max_seconds`` run out; return :meth:`summary`.

        ``resume``: continue from ``out_dir/last.safetensors`` (which must exist). ``lr``: the
        learning rate to go on with (default: the checkpoint's), e.g. a lower one after a
        divergence.
        Raises :class:`TrainingDiverged` on a NaN/inf loss, and re-raises KeyboardInterrupt
        after saving a checkpoint.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            if not self.last_path.exists():
                raise FileNotFoundError(f"nothing to resume: {self.last_path} does not exist")
            self.load_state_dict(io.load(self.last_path))
            if lr is not None:
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.base_lrs = [lr for _ in self.base_lrs]
        start = self._start = time.perf_counter()
        seconds_before = self.seconds
        deadline = None if self.max_seconds is None else start + self.max_seconds
        self._position = self._current_position()
        batches = self._stream()

        def clock():
            self.seconds = seconds_before + time.perf_counter() - start

        try:
            self.status = "running"
            while self.epochs is None or self.epoch < self.epochs:
                finished = self._train_epoch(batches, deadline, clock)
                if self.epoch_step > 0:  # a budget-shortened epoch is still validated and saved
                    self._end_epoch(clock)
                if not finished:
                    self.status = "max_seconds"
                    self._log(f"time budget of {self.max_seconds:g} s used up after "
                              f"{self.step} steps")
                    break
            else:
                self.status = "completed"
        except TrainingDiverged:
            clock()
            self.status = "diverged"
            self.write_metrics()
            raise
        except KeyboardInterrupt:
            clock()
            self.status = "interrupted"
            self.save_checkpoint(self.last_path)
            self.write_metrics()
            self._log(f"interrupted at step {self.step}; saved {self.last_path} "
                      f"(continue with resume)")
            raise
        clock()
        self.write_metrics()
        return self.summary()

    def _stream(self):
        """The training batches, endlessly: the loader's epochs roll over into each other."""
        while True:
            served = 0
            for batch in self.train_loader:
                served += 1
                yield batch
            if served == 0 and len(self.train_loader) == 0:
                raise ValueError("Trainer: the training loader yields no batches")

    def _train_epoch(self, batches, deadline, clock) -> bool:
        """Steps until the epoch is complete (True) or the deadline passes (False)."""
        bar = tqdm(total=self.steps_per_epoch, initial=self.epoch_step, unit="step",
                   desc=f"epoch {self._of(self.epoch + 1)}", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        with bar:
            while self.epoch_step < self.steps_per_epoch:
                if deadline is not None and time.perf_counter() >= deadline:
                    return False
                images, masks, *extra = next(batches)
                tic = time.perf_counter()
                loss, dice = self.train_step(images, masks, *extra[1:2])
                self.step_seconds += time.perf_counter() - tic
                clock()
                bar.set_postfix(loss=f"{loss:.4f}", dice=f"{dice:.3f}", refresh=False)
                bar.update()
                for callback in self.callbacks:
                    callback(self)
        return True

    def train_step(self, images, masks, weights=None) -> tuple[float, float]:
        """One optimizer step on a batch (``weights``: per-pixel, to ``loss_fn``); returns its
        loss and the Dice of its argmax masks."""
        self.model.train()
        device = model_device(self.model)  # batches go where the weights are
        # BEGIN SOLUTION task=5.2 hint="forward, loss, then zero_grad before backward"
        logits = self.model(Tensor(images, device=device))
        masks = crop_like(masks, logits)
        self._check_finite("the logits", logits.data)
        extra = () if weights is None else (to_device(crop_like(weights, logits), device),)
        loss = self.loss_fn(logits, to_device(masks, device), *extra)
        self._check_finite("the loss", loss.data)
        self.optimizer.zero_grad()
        loss.backward()
        # END SOLUTION
        if self.anneal:
            self._anneal()
        dice = score(logits.numpy().argmax(axis=1), masks, self.num_classes)["dice"]
        with deferred_interrupt():  # the update and the bookkeeping happen together, or not
            self.optimizer.step()
            self.step += 1
            self.epoch_step += 1
            self.running["loss"] += float(loss.data)
            self.running["dice"] += dice
            self._position = self._current_position()
        return float(loss.data), dice

    def _anneal(self):
        done = self.step / (self.epochs * self.steps_per_epoch) if self.epochs else 0.0
        if self.max_seconds:
            done = max(done, (time.perf_counter() - self._start) / self.max_seconds)
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base_lr * max(0.0, 1.0 - done)

    def _end_epoch(self, clock):
        val = evaluate(self.model, self.val_loader, self.num_classes, self.loss_fn,
                       instances=default_method(self.config.get("target")))
        clock()
        n = self.epoch_step
        row = {"epoch": self.epoch + 1, "step": self.step,
               "train_loss": self.running["loss"] / n, "train_dice": self.running["dice"] / n,
               "val_loss": val["loss"], "val_dice": val["dice"], "val_iou": val["iou"],
               "val_pixel_accuracy": val["pixel_accuracy"],
               **{key: val.get(key.removeprefix("val_")) for key in INSTANCE_COLUMNS},
               "lr": self.lr,
               "seconds": round(self.seconds, 3)}
        self._check_weights_finite()
        self.history.append(row)
        self.epoch, self.epoch_step = self.epoch + 1, 0
        self.running = {"loss": 0.0, "dice": 0.0}
        improved = self.best_dice is None or row["val_dice"] > self.best_dice
        if improved:
            self.best_dice = row["val_dice"]
        state = self.state_dict()
        self.save_checkpoint(self.last_path, state)
        if improved:
            self.save_checkpoint(self.best_path, state)
        self.write_metrics()
        self._log(f"epoch {self._of(row['epoch'])}  step {row['step']}  "
                  f"loss {row['train_loss']:.4f}  dice {row['train_dice']:.3f}  |  "
                  f"val loss {row['val_loss']:.4f}  dice {row['val_dice']:.3f}  "
                  f"iou {row['val_iou']:.3f}  acc {row['val_pixel_accuracy']:.3f}  "
                  + (f"AP {row['val_ap']:.3f}  objects {row['val_objects']}/"
                     f"{row['val_true_objects']}  " if row["val_ap"] is not None else "")
                  + f"[{row['seconds']:.1f} s]" + ("  *best*" if improved else ""))

    def _of(self, epoch: int) -> str:
        return f"{epoch}/{self.epochs}" if self.epochs else str(epoch)

    def _log(self, message: str):
        tqdm.write(message)  # prints between progress bars instead of through them

    # ----- divergence ----------------------------------------------------------------------
    def _check_finite(self, what: str, array):
        if bool(get_array_module(array).isfinite(array).all()):
            return
        if self.last_path.exists():
            kept = (f"The last good checkpoint, {self.last_path} (epoch {self.epoch}), is "
                    f"kept: resume from it with a lower learning rate")
        else:
            kept = "No checkpoint had been written yet"
        raise TrainingDiverged(
            f"training diverged: {what} became NaN or inf at epoch {self.epoch + 1}, step "
            f"{self.step + 1} (lr {self.lr:g}). {kept}, or restart with a lower learning rate.")

    def _check_weights_finite(self):
        for name, p in self.model.named_parameters():
            self._check_finite(f"the weights ({name})", p.data)

    # ----- checkpoints ---------------------------------------------------------------------
    def _current_position(self) -> dict:
        return {"loader": dict(self.train_loader.state_dict()),
                "rng": tu_random.get_rng_state()}

    def state_dict(self) -> dict:
        """Everything a restart needs, as of the last completed step."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch, "step": self.step, "epoch_step": self.epoch_step,
            "running": dict(self.running), "history": list(self.history),
            "best_val_dice": self.best_dice, "seconds": self.seconds,
            "step_seconds": self.step_seconds, "base_lrs": list(self.base_lrs),
            "loader": self._position["loader"], "rng": self._position["rng"],
            "model_class": type(self.model).__name__,
            "model_config": getattr(self.model, "config", None),
            "train_config": self.config,
        }

    def load_state_dict(self, state: dict):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.epoch_step = int(state["epoch_step"])
        self.running = {k: float(v) for k, v in state["running"].items()}
        self.history = [dict(row) for row in state["history"]]
        self.best_dice = state["best_val_dice"]
        self.seconds = float(state["seconds"])
        self.step_seconds = float(state["step_seconds"])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]
        self.train_loader.load_state_dict(state["loader"])
        tu_random.set_rng_state(state["rng"])

    def save_checkpoint(self, path, state: dict | None = None):
        state = state or self.state_dict()
        metadata = {"format": "tinyunet checkpoint", "epoch": str(state["epoch"]),
                    "step": str(state["step"]), "model_class": state["model_class"],
                    "model_config": json.dumps(state["model_config"]),
                    "train_config": json.dumps(state["train_config"])}
        io.save(state, path, metadata=metadata)

    # ----- metrics -------------------------------------------------------------------------
    def summary(self) -> dict:
        """The last epoch's scores, the best Dice, time and steps, and the history."""
        last = self.history[-1] if self.history else {}
        best = max(self.history, key=lambda r: r["val_dice"]) if self.history else {}
        return {
            "status": self.status,
            "val_dice": last.get("val_dice"), "val_iou": last.get("val_iou"),
            "val_pixel_accuracy": last.get("val_pixel_accuracy"),
            "val_loss": last.get("val_loss"), "train_loss": last.get("train_loss"),
            **{key: last.get(key) for key in INSTANCE_COLUMNS},
            "best_val_dice": best.get("val_dice"), "best_epoch": best.get("epoch"),
            "train_seconds": round(self.seconds, 3), "steps": self.step, "epochs": self.epoch,
            "seconds_per_step": round(self.step_seconds / self.step, 4) if self.step else None,
            "history": self.history,
        }

    def write_metrics(self):
        """``metrics.csv`` (a row per epoch) and ``metrics.json`` (:meth:`summary`)."""
        with open(self.out / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self.history)
        (self.out / "metrics.json").write_text(json.dumps(_jsonable(self.summary()), indent=2))


def _jsonable(value):
    """NaN is not JSON: write it as null."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
