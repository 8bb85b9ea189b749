"""Data for the U-Net: synthetic cells and nuclei, your own PNG/TIFF folders, normalisation,
targets from instance labels, augmentation, batching, weight maps, and the folder check.

Datasets return plain NumPy arrays, ``image (C, H, W) float32`` and ``mask (H, W) int64``
(plus instance labels ``(H, W)`` and a weight map when asked); the :class:`DataLoader`
stacks them into batches and the trainer wraps those in Tensors.
"""

from tinyunet.data.augment import (
    BrightnessContrast,
    Compose,
    ElasticDeform,
    RandomCrop,
    RandomFlip,
    RandomRot90,
)
from tinyunet.data.folder import FolderDataset
from tinyunet.data.loader import DataLoader
from tinyunet.data.normalize import normalize, percentile_normalize
from tinyunet.data.nuclei import SyntheticNuclei
from tinyunet.data.sampling import Repeat, WithWeightMaps
from tinyunet.data.synthetic import SyntheticCells, gaussian_blur
from tinyunet.data.volumes import SyntheticCellVolumes, gaussian_blur3d
from tinyunet.data.weights import (
    class_balance_weights,
    distance_transform,
    label_components,
    unet_weight_map,
)

__all__ = [
    "BrightnessContrast",
    "Compose",
    "DataLoader",
    "ElasticDeform",
    "FolderDataset",
    "RandomCrop",
    "RandomFlip",
    "RandomRot90",
    "Repeat",
    "SyntheticCells",
    "SyntheticCellVolumes",
    "SyntheticNuclei",
    "WithWeightMaps",
    "class_balance_weights",
    "distance_transform",
    "gaussian_blur",
    "gaussian_blur3d",
    "label_components",
    "normalize",
    "percentile_normalize",
    "unet_weight_map",
]
