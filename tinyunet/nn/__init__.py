"""Layers and containers, as ``torch.nn``: ``import tinyunet.nn as nn``.

``Module`` / ``Parameter`` (module.py) are the bookkeeping; each layer is a thin Module that
owns its Parameters and calls a differentiable op from ``tinyunet.ops``; ``nn.init`` holds
the initialisation schemes.
"""

from . import init
from .activation import Dropout, Identity, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .attention import CrossAttention2d, SelfAttention2d
from .containers import ModuleList, Sequential
from .conv import Conv2d, ConvTranspose2d
from .conv3d import Conv3d, ConvTranspose3d
from .embedding import Embedding, SinusoidalTimeEmbedding, TimestepMLP
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, DiceCELoss, DiceLoss, MSELoss
from .module import Module, Parameter
from .norm import BatchNorm2d, BatchNorm3d, GroupNorm
from .pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, Upsample
from .pool3d import MaxPool3d
from .upsample import PixelShuffle, PixelUnshuffle, SubPixelUpsample, icnr_

__all__ = [
    "init", "Module", "Parameter", "Sequential", "ModuleList",
    "Conv2d", "ConvTranspose2d", "Linear",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample",
    "Conv3d", "ConvTranspose3d", "MaxPool3d",
    "PixelShuffle", "PixelUnshuffle", "SubPixelUpsample", "icnr_",
    "BatchNorm2d", "BatchNorm3d", "GroupNorm",
    "ReLU", "LeakyReLU", "SiLU", "Sigmoid", "Tanh", "Identity", "Dropout",
    "SelfAttention2d", "CrossAttention2d", "Embedding", "SinusoidalTimeEmbedding", "TimestepMLP",
    "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "DiceLoss", "DiceCELoss",
]
