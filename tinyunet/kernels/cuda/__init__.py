"""The GPU kernel set: the contract of ``tinyunet.kernels``, written as CUDA kernels.

Same names, same signatures, same results as ``reference`` and ``numba_cpu``; the arrays are
CuPy arrays and so are the results (allocated with ``xp = get_array_module(x)``).

* im2col / col2im (vol2col / col2vol in 3-D), pooling and upsampling are hand-written
  ``numba.cuda`` kernels
  (``@cuda.jit``), one thread per output element or per input pixel (see each file);
  CuPy arrays go straight in through the CUDA array interface, no copies.
* The GEMMs of the convolutions are ``xp.matmul``: cuBLAS through CuPy.

Why numba.cuda rather than CuPy RawKernels: numba's CUDA *simulator*
(``NUMBA_ENABLE_CUDASIM=1``) runs the very same kernels as Python threads on NumPy arrays, so
``make test`` checks every GPU kernel against the reference set on a machine without a GPU
(``tests/test_cuda_kernels.py``; ``tests/conftest.py`` switches the simulator on when no GPU
is usable). ``tinyunet.backend.kernels(*arrays)`` imports this package only when an array
lives on the GPU, so importing tinyunet never imports numba.cuda or CuPy.
"""

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
