"""Prediction on images of any size: the U-Net paper's overlap-tile strategy.

A network trained on 64x64 tiles can segment a 1024x1024 image in one forward pass (it is
fully convolutional), but memory grows with the image. The paper's answer (Ronneberger et
al. 2015, Fig. 2) is to predict tile by tile, and to do it so that the seams don't show:

1. **Mirror the border.** Pad the image by reflection, so tiles at the edge see plausible
   context (a mirrored cell) instead of zeros.
2. **Overlap the tiles.** A pixel near a tile's edge sees less context (and, with 'same'
   padding, the zeros of each conv's padding), so its prediction is worse. Slide the tiles
   with overlap and keep only each tile's *centre*: ``margin`` pixels are dropped on every
   side, and the kept centres (``core = tile - 2 * margin``) tile the image exactly.
3. **Stitch** the centres back together and crop the padding away.

With a 'valid'-padding U-Net (the paper's), the network itself trims its input: the output of
a ``tile``-sized input is smaller by a fixed border, and the input tiles overlap by exactly
that border. Both cases are one loop here: ``lead = border + margin`` input pixels sit between
a tile's edge and its kept centre.

Why ``margin`` is a multiple of ``2**depth`` by default: max pooling looks at a fixed grid of
2x2 windows. When every tile starts on a multiple of the network's total stride, its pooling
grid lines up with the whole image's, and (given a margin at least the receptive field's
radius) the stitched result equals a single forward of the whole image, up to rounding.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from . import io
from .data.files import DataError, read_image, read_mask, write_labels, write_tiff
from .data.normalize import normalize as normalize_image
from .grad_mode import no_grad
from .instance_metrics import count
from .instances import from_prediction
from .overlay import overlay as make_overlay
from .tensor import Tensor


def _stride(model) -> int:
    """The network's total downsampling factor, ``2**depth`` for a U-Net (1 if unknown)."""
    depth = (getattr(model, "config", None) or {}).get("depth", 0)
    return 2 ** int(depth)


def _as_chw(image) -> np.ndarray:
    image = np.asarray(getattr(image, "data", image), dtype=np.float32)
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3:
        raise ValueError(f"predict: expected an image (H, W) or (C, H, W), got shape "
                         f"{image.shape}")
    return image


def model_device(model) -> str:
    """Where a model's weights live: ``'cpu'`` or ``'cuda'``."""
    first = next(iter(model.parameters()), None)
    return "cpu" if first is None else first.device


def _forward(model, batch: np.ndarray) -> np.ndarray:
    """Logits of a NumPy batch, computed on the model's device, returned as NumPy."""
    with no_grad():
        x = Tensor(np.ascontiguousarray(batch), device=model_device(model))
        return model(x).numpy()


def predict_logits(model, image, tile: int | None = None, overlap: int | None = None,
                   batch_size: int = 4) -> np.ndarray:
    """Logits ``(K, H, W)`` for one image ``(C, H, W)`` (or ``(H, W)``), in eval mode.

    ``tile=None``: one forward pass of the whole image (reflect-padded up to a multiple of
    ``2**depth`` and cropped back). ``tile=T``: overlap-tile prediction with ``T x T`` input
    tiles, dropping ``overlap`` output pixels on each side of every tile (default ``T // 4``,
    rounded down to a multiple of ``2**depth``; 0 for a 'valid' network, whose own border
    already gives each kept pixel its full context). ``batch_size`` tiles run together.
    """
    image = _as_chw(image)
    was_training = model.training
    model.eval()
    try:
        if tile is None:
            return _whole(model, image)
        return _tiled(model, image, int(tile), overlap, batch_size)
    finally:
        model.train(was_training)


def predict(model, image, tile: int | None = None, overlap: int | None = None,
            batch_size: int = 4) -> np.ndarray:
    """The mask ``(H, W)`` int64: the argmax over classes of :func:`predict_logits`."""
    return predict_logits(model, image, tile, overlap, batch_size).argmax(axis=0)


def forward_padded(model, batch: np.ndarray) -> np.ndarray:
    """Logits of a batch ``(N, C, H, W)`` of any size: a 'same'-padding network gets it
    mirror-padded up to a multiple of ``2**depth`` (its pooling needs even sizes at every
    level), and the logits are cropped back to ``(H, W)``. Other networks get it as it is."""
    if (getattr(model, "config", None) or {}).get("padding", "same") != "same":
        return _forward(model, batch)
    H, W = batch.shape[-2:]
    s = _stride(model)
    padded = np.pad(batch, ((0, 0), (0, 0), (0, -H % s), (0, -W % s)), mode="reflect")
    return _forward(model, padded)[..., :H, :W]


def _whole(model, image: np.ndarray) -> np.ndarray:
    logits = forward_padded(model, image[None])[0]
    if logits.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"predict: the model maps {image.shape[-2:]} to {logits.shape[-2:]} "
                         f"(a 'valid'-padding network predicts only the centre of its input); "
                         f"use overlap-tile prediction: predict(..., tile=N)")
    return logits


def _tiled(model, image: np.ndarray, tile: int, overlap: int | None,
           batch_size: int) -> np.ndarray:
    C, H, W = image.shape
    s = _stride(model)
    if (getattr(model, "config", None) or {}).get("padding", "same") == "same" and tile % s:
        raise ValueError(f"predict: tile {tile} must be a multiple of 2**depth = {s}, or the "
                         f"pooling would drop pixels")
    out = _forward(model, np.zeros((1, C, tile, tile), np.float32)).shape[-1]
    border = tile - out  # what the network itself trims, both sides together
    if border < 0 or border % 2:
        raise ValueError(f"predict: a {tile}x{tile} tile gives a {out}x{out} output; the "
                         f"output must be the input's centre (choose another tile size)")
    border //= 2
    if overlap is None:  # drop a quarter of each side, on the pooling grid ('same' only)
        overlap = 0 if border else (tile // 4) // s * s
    margin = int(overlap)
    core = out - 2 * margin  # the centre of each tile's output that is kept
    if margin < 0 or core < 1:
        raise ValueError(f"predict: overlap {margin} leaves nothing of a {out}x{out} tile "
                         f"output; it must be in [0, {(out - 1) // 2}]")
    lead = border + margin  # input pixels between a tile's edge and its kept centre
    ny, nx = math.ceil(H / core), math.ceil(W / core)
    # mirror padding: `lead` before, and enough after for the last tile to fit
    padded = np.pad(image, ((0, 0), (lead, ny * core - H + lead), (lead, nx * core - W + lead)),
                    mode="reflect")
    corners = [(i * core, j * core) for i in range(ny) for j in range(nx)]
    result = None
    for k in range(0, len(corners), batch_size):
        chunk = corners[k:k + batch_size]
        tiles = np.stack([padded[:, y:y + tile, x:x + tile] for y, x in chunk])
        logits = _forward(model, tiles)
        if result is None:
            result = np.empty((logits.shape[1], ny * core, nx * core), logits.dtype)
        for (y, x), t in zip(chunk, logits):
            result[:, y:y + core, x:x + core] = t[:, margin:margin + core, margin:margin + core]
    return result[:, :H, :W]


# ----- checkpoints and files ---------------------------------------------------------------------
def load_model(checkpoint):
    """Rebuild the model saved in a training checkpoint (``last``/``best.safetensors``), in
    eval mode: its class and config come from the checkpoint, the weights from ``model``."""
    from . import models

    state = io.load(checkpoint)
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise ValueError(f"{checkpoint} is not a tinyunet training checkpoint (it has no "
                         f"'model' weights and 'model_config'); was it written by the trainer?")
    name = state.get("model_class") or "UNet"
    cls = getattr(models, name, None)
    if cls is None:
        raise ValueError(f"{checkpoint}: unknown model class {name!r}")
    model = cls(**state["model_config"])
    model.load_state_dict(state["model"])
    return model.eval()


def load_preprocessing(checkpoint) -> dict:
    """How the checkpoint's model saw its images: ``normalize``, ``percentiles`` and
    ``target`` from its training config. Checkpoints from before the setting existed were
    trained on images scaled by their bit depth."""
    text = io.read_metadata(checkpoint).get("train_config")
    config = json.loads(text) if text else {}
    return {"normalize": config.get("normalize", "bitdepth"),
            "percentiles": (config.get("percentile_low", 1.0),
                            config.get("percentile_high", 99.8)),
            "target": config.get("target", "classes")}


def read_for_model(path, channels: int = 1, normalize: str = "bitdepth",
                   percentiles=(1.0, 99.8)) -> np.ndarray:
    """An image file (PNG or TIFF, one image or a stack) as the model's input: float32
    ``(N, channels, H, W)``, scaled as in training (:mod:`tinyunet.data.normalize`).

    A colour image for a one-channel model becomes grey (``0.299 R + 0.587 G + 0.114 B``, as
    Pillow's ``convert("L")``); a grey one for a three-channel model is repeated.
    """
    raw = read_image(path)
    if raw.shape[1] == 3 and channels == 1:
        luma = np.tensordot(np.array([0.299, 0.587, 0.114]), raw, axes=([0], [1]))
        raw = np.round(luma).astype(raw.dtype)[:, None]
    elif raw.shape[1] == 1 and channels == 3:
        raw = np.repeat(raw, 3, axis=1)
    if raw.shape[1] != channels:
        raise DataError(f"{path} has {raw.shape[1]} channels but the model takes {channels}")
    return normalize_image(raw, normalize, *percentiles)


def mask_to_png(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """uint8 for a PNG: a binary mask as 0/255, C classes spread over 0..255 (0, 127, 255)."""
    step = 255 // max(num_classes - 1, 1)
    return (np.asarray(mask) * step).astype(np.uint8)


def predict_files(model, paths, out_dir, tile=None, overlap=None, overlay=False,
                  instances=False, normalize="bitdepth", percentiles=(1.0, 99.8),
                  method="split", report=print) -> list[Path]:
    """Predict each image file; write ``<name>_mask.png`` (a stack: ``_mask.tif``), with
    ``overlay`` ``<name>_overlay.png`` (one per page), with ``instances`` the 16-bit label
    image ``<name>_instances.tif`` found by ``method``
    (:func:`tinyunet.instances.from_prediction`), reporting each image's object count."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = getattr(model, "config", None) or {}
    channels, num_classes = config.get("in_channels", 1), config.get("num_classes", 2)
    written = []
    for path in map(Path, paths):
        images = read_for_model(path, channels, normalize, percentiles)
        masks = np.stack([predict(model, image, tile=tile, overlap=overlap) for image in images])
        labels = np.stack([from_prediction(m, method) for m in masks]) if instances else None
        if len(masks) == 1:
            written.append(out_dir / f"{path.stem}_mask.png")
            Image.fromarray(mask_to_png(masks[0], num_classes)).save(written[-1])
        else:
            written.append(write_tiff(out_dir / f"{path.stem}_mask.tif",
                                      mask_to_png(masks, num_classes)))
        if instances:
            written.append(write_labels(out_dir / f"{path.stem}_instances.tif", labels[0]
                                        if len(labels) == 1 else labels))
            report(f"{path.name}: {sum(count(lab) for lab in labels)} objects")
        if not overlay:
            continue
        for k, (image, mask) in enumerate(zip(images, masks)):
            page = "" if len(masks) == 1 else f"_{k}"
            written.append(out_dir / f"{path.stem}_overlay{page}.png")
            outlined = None if labels is None else labels[k]
            shown = make_overlay(np.clip(image, 0, 1), mask, instances=outlined)
            Image.fromarray(shown).save(written[-1])
    return written


def score_instances(image_paths, out_dir, truth_dir) -> str:
    """Score each image's ``<name>_instances.tif`` against its true mask or label image in
    ``truth_dir`` (named as in :mod:`tinyunet.data.folder`): a line per image, then the mean.
    """
    from .data.folder import MASK_SUFFIXES
    from .data.targets import instances_of, mask_kind
    from .instance_metrics import average_precision

    lines, aps, ap50s = [], [], []
    for path in map(Path, image_paths):
        found = [p for s in MASK_SUFFIXES for ext in (".png", ".tif", ".tiff")
                 if (p := Path(truth_dir) / f"{path.stem}{s}{ext}").exists()]
        if not found:
            raise DataError(f"--truth: no mask for {path.name} in {truth_dir}")
        truths = read_mask(found[0])
        kind, _ = mask_kind(np.unique(truths))
        preds = read_mask(Path(out_dir) / f"{path.stem}_instances.tif")
        for true, pred in zip(truths, preds):
            true = instances_of(true, kind)
            aps.append(average_precision(true, pred))
            ap50s.append(average_precision(true, pred, [0.5]))
            lines.append(f"{path.name}: {count(pred)} objects found, {count(true)} true; "
                         f"AP {aps[-1]:.3f} (AP at IoU 0.5: {ap50s[-1]:.3f})")
    lines.append(f"mean over {len(aps)} images: AP {np.mean(aps):.3f}, "
                 f"AP at IoU 0.5 {np.mean(ap50s):.3f}")
    return "\n".join(lines)
