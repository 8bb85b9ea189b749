"""A ``torch.nn.functional``-shaped facade over ``tinyunet.ops``.

    import tinyunet.functional as F

Every name here is a re-export; the code, forward and backward side by side, lives in the op's
own file under ``tinyunet/ops/`` (the convolution in ``ops/conv.py``, the transposed convolution
beside it, max pooling in ``ops/pool.py``, average pooling in ``ops/avg_pool.py``, the 3-D
convolutions and max pooling in ``ops/conv3d.py`` and ``ops/pool3d.py``, cross-entropy in
``ops/cross_entropy.py``, ...).

Each function takes PyTorch's arguments, by PyTorch's names, in PyTorch's order and with its
defaults, so a call written for ``torch.nn.functional`` means the same here
(``tests/test_surface.py`` holds every signature to torch's, and ``tests/test_opinfo.py`` runs
PyTorch's own sample inputs through every op). An argument value tinyunet cannot honour is
refused with ``NotImplementedError`` naming it (``antialias=True``, ``sparse=True``, ``out=``).
"""

from .ops.activation import leaky_relu, log_softmax, relu, sigmoid, silu, softmax, tanh
from .ops.attention import scaled_dot_product_attention
from .ops.avg_pool import adaptive_avg_pool2d, avg_pool2d
from .ops.concat import cat, center_crop, stack
from .ops.conv import (
    conv2d,
    conv2d_output_size,
    conv_transpose2d,
    conv_transpose2d_output_size,
)
from .ops.conv3d import (
    conv3d,
    conv3d_output_size,
    conv_transpose3d,
    conv_transpose3d_output_size,
)
from .ops.cross_entropy import cross_entropy
from .ops.dice import dice_ce_loss, dice_loss
from .ops.dropout import dropout
from .ops.embedding import embedding
from .ops.interpolate import interpolate
from .ops.linear import linear
from .ops.loss import binary_cross_entropy_with_logits, mse_loss
from .ops.norm import batch_norm, group_norm
from .ops.pad import pad
from .ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle
from .ops.pool import max_pool2d
from .ops.pool3d import max_pool3d

__all__ = [
    "relu", "leaky_relu", "sigmoid", "silu", "tanh", "softmax", "log_softmax",
    "conv2d", "conv_transpose2d", "conv2d_output_size", "conv_transpose2d_output_size",
    "conv3d", "conv_transpose3d", "conv3d_output_size", "conv_transpose3d_output_size",
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "max_pool3d", "interpolate",
    "pixel_shuffle", "pixel_unshuffle",
    "cat", "stack", "center_crop", "pad",
    "linear", "dropout", "embedding", "scaled_dot_product_attention", "batch_norm", "group_norm",
    "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "dice_loss", "dice_ce_loss",
]
