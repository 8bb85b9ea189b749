"""The numba_cpu kernel set. See tinyunet.kernels for the contract every set follows."""

from . import ahead, runtime
from .activation import relu, relu_backward, relu_backward_sum
from .conv import conv2d, conv2d_grad_weight, conv2d_relu, conv_transpose2d
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

ahead.start()  # on a cold start, a second process compiles kernels too (ahead.py)
runtime.start()  # numba's runtime, now and without scipy.linalg (runtime.py)

__all__ = [
    "relu", "relu_backward",
    "conv2d", "conv2d_grad_weight", "conv_transpose2d",
    "conv2d_relu", "relu_backward_sum",  # fused kernels: only this set has them
    "conv3d", "conv3d_grad_weight", "conv_transpose3d",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "max_pool3d", "max_pool3d_backward",
    "upsample_nearest2d", "upsample_nearest2d_backward",
    "upsample_bilinear2d", "upsample_bilinear2d_backward",
    "upsample_bicubic2d", "upsample_bicubic2d_backward",
]
