"""The training run's data, written as plain NumPy files for the PyTorch side.

``train_ddp.py`` needs the same images the tinyunet run trained on, but not tinyunet: the
export makes them here, as the run made them (synthetic cells from the run's seed, or the
run's image folder, each image scaled by the run's ``normalize`` setting, each mask already
the run's target: its classes, the three classes of ``target="three_class"``, or the
separated foreground of a weighted loss) and writes ``data/train.npz`` and ``data/val.npz``:

    image_00000   (C, H, W) float32, the network's input
    mask_00000    (H, W) integer class indices, the target
    weight_00000  (H, W) float32, the U-Net paper's weight map (weighted losses only),
                  computed from the instance labels with the run's ``w0`` and ``sigma``
    repeats       (train.npz) how many times an epoch serves each image (small sets)

and so on, one group per item, so images of different sizes fit; ``numpy.load`` reads them
without pickle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm


def write_training_data(train_config: dict, out_dir, progress: bool = True) -> list[Path]:
    """Write the training and validation sets of a run's ``train_config`` into ``out_dir``."""
    from ..train.config import TrainConfig, make_datasets
    from ..train.datasets import repeats

    config = TrainConfig.from_dict(dict(train_config))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split, dataset in zip(("train", "val"), make_datasets(config)):
        arrays = {"repeats": np.int64(repeats(config, dataset))} if split == "train" else {}
        for i in tqdm(range(len(dataset)), desc=f"data/{split}.npz", unit="image",
                      disable=not progress, leave=False):
            image, mask, _, *weight = dataset[i]     # (image, target, labels[, weight map])
            arrays[f"image_{i:05d}"] = np.asarray(image, dtype=np.float32)
            mask = np.asarray(mask)
            arrays[f"mask_{i:05d}"] = mask.astype(np.uint8 if mask.max() < 256 else np.int64)
            if weight:
                arrays[f"weight_{i:05d}"] = np.asarray(weight[0], dtype=np.float32)
        path = out_dir / f"{split}.npz"
        np.savez(path, **arrays)
        written.append(path)
    return written
