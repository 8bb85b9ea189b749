"""MaxPool3d: the 3-D U-Net's 2x2x2 downsampling, a thin Module over ``ops.pool3d``.

PyTorch's constructor arguments and defaults; ``stride`` defaults to ``kernel_size``
(non-overlapping windows), and ``return_indices=True`` makes the layer return
``(y, indices)``.
"""

from __future__ import annotations

from ..ops.pool3d import max_pool3d
from .module import Module


class MaxPool3d(Module):
    """``MaxPool3d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
    ceil_mode=False)``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")
