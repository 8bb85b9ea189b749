"""The reference kernel set. See tinyunet.kernels for the contract every set follows."""

from .activation import relu, relu_backward
from .conv import conv2d, conv2d_grad_weight, conv_transpose2d
from .conv3d import conv3d, conv3d_grad_weight, conv_transpose3d
from .interpolate import (
    upsample_bicubic2d,
    upsample_bicubic2d_backward,
    upsample_bilinear2d,
    upsample_bilinear2d_backward,
    upsample_nearest2d,
    upsample_nearest2d_backward,
)
from .pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from .pool3d import max_pool3d, max_pool3d_backward

__all__ = [
    "relu", "relu_backward",
    "conv2d", "conv2d_grad_weight", "conv_transpose2d",
    "conv3d", "conv3d_grad_weight", "conv_transpose3d",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "max_pool3d", "max_pool3d_backward",
    "upsample_nearest2d", "upsample_nearest2d_backward",
    "upsample_bilinear2d", "upsample_bilinear2d_backward",
    "upsample_bicubic2d", "upsample_bicubic2d_backward",
]
