"""The training run's data, written as plain NumPy files for the PyTorch side.

``train_ddp.py`` needs the same images the tinyunet run trained on, but not tinyunet: the
export makes them here (synthetic cells from the run's seed, or the run's PNG folder) and
writes ``data/train.npz`` and ``data/val.npz``, each holding ``image_00000`` (C, H, W)
float32 and ``mask_00000`` (H, W) integer class indices, and so on (one pair per item, so
images of different sizes fit; ``numpy.load`` reads them without pickle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm


def write_training_data(train_config: dict, out_dir, progress: bool = True) -> list[Path]:
    """Write the training and validation sets of a run's ``train_config`` into ``out_dir``."""
    from ..train.config import TrainConfig, make_datasets

    config = TrainConfig.from_dict(dict(train_config))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split, dataset in zip(("train", "val"), make_datasets(config)):
        arrays = {}
        for i in tqdm(range(len(dataset)), desc=f"data/{split}.npz", unit="image",
                      disable=not progress, leave=False):
            image, mask = dataset[i][:2]
            arrays[f"image_{i:05d}"] = np.asarray(image, dtype=np.float32)
            mask = np.asarray(mask)
            arrays[f"mask_{i:05d}"] = mask.astype(np.uint8 if mask.max() < 256 else np.int64)
        path = out_dir / f"{split}.npz"
        np.savez(path, **arrays)
        written.append(path)
    return written
