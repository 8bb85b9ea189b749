"""MaxPool3d: the 3-D U-Net's 2x2x2 downsampling, a thin Module over ``ops.pool3d``.

PyTorch's constructor arguments and defaults, stored and printed as ``MaxPool2d`` stores and
prints them (``nn/pool.py``'s ``_MaxPoolNd``); ``stride`` defaults to ``kernel_size``
(non-overlapping windows), and ``return_indices=True`` makes the layer return
``(y, indices)``.
"""

from __future__ import annotations

from ..ops.pool3d import max_pool3d
from .pool import _MaxPoolNd


class MaxPool3d(_MaxPoolNd):
    """``MaxPool3d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
    ceil_mode=False)``."""

    def forward(self, x):
        return max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)
