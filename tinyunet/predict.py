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

import math
from pathlib import Path

import numpy as np
from PIL import Image

from . import io
from .grad_mode import no_grad
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


def read_image(path, channels: int = 1) -> np.ndarray:
    """A PNG (or any Pillow-readable image) as float32 ``(channels, H, W)`` in [0, 1]."""
    with Image.open(path) as im:
        if im.mode.startswith("I"):  # 16-bit grayscale
            grey = np.asarray(im, dtype=np.float32) / 65535.0
            return np.repeat(grey[None], channels, axis=0)
        if channels == 1:
            return np.asarray(im.convert("L"), dtype=np.float32)[None] / 255.0
        if channels == 3:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
            return np.ascontiguousarray(rgb.transpose(2, 0, 1))
    raise ValueError(f"read_image: the model takes {channels} channels; only 1 (grey) and 3 "
                     f"(RGB) images can be read")


def mask_to_png(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """uint8 for a PNG: a binary mask as 0/255, C classes spread over 0..255 (0, 127, 255)."""
    step = 255 // max(num_classes - 1, 1)
    return (np.asarray(mask) * step).astype(np.uint8)


def predict_files(model, paths, out_dir, tile=None, overlap=None, overlay=False) -> list[Path]:
    """Predict each image file; write ``<name>_mask.png`` (and ``<name>_overlay.png``)."""

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = getattr(model, "config", None) or {}
    channels, num_classes = config.get("in_channels", 1), config.get("num_classes", 2)
    written = []
    for path in map(Path, paths):
        image = read_image(path, channels)
        mask = predict(model, image, tile=tile, overlap=overlap)
        target = out_dir / f"{path.stem}_mask.png"
        Image.fromarray(mask_to_png(mask, num_classes)).save(target)
        written.append(target)
        if overlay:
            target = out_dir / f"{path.stem}_overlay.png"
            Image.fromarray(make_overlay(image, mask)).save(target)
            written.append(target)
    return written
