"""BatchNorm2d, BatchNorm3d and GroupNorm: normalise activations, then scale (weight) and
shift (bias).

The math and its backward are in ``tinyunet.ops.norm``. BatchNorm2d behaves differently in
training and evaluation, exactly as PyTorch's:

* ``train()``: normalise with the batch's own mean and (biased) variance, and move the running
  statistics towards them (the *unbiased* variance), counting ``num_batches_tracked``;
  ``momentum=None`` makes the running statistics a plain cumulative average.
* ``eval()``: normalise with the running statistics, whatever the batch.

GroupNorm normalises each sample on its own (groups of channels), so it has no running
statistics, no train/eval difference, and works with batch size 1.
"""

from __future__ import annotations

import numpy as np

from ..ops.norm import batch_norm, group_norm
from .module import Module, Parameter, _empty


def _register_affine(module, affine, bias, C, device, dtype):
    """weight (gamma, starts at 1) and bias (beta, starts at 0), or None where disabled."""
    weight = Parameter(_empty((C,), device, dtype) + 1) if affine else None
    module.register_parameter("weight", weight)
    bias = Parameter(_empty((C,), device, dtype)) if affine and bias else None
    module.register_parameter("bias", bias)


class BatchNorm2d(Module):
    """``BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True,
    track_running_stats=True)`` over (N, C, H, W)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _register_affine(self, affine, bias, num_features, device, dtype)
        C = num_features
        if track_running_stats:
            self.register_buffer("running_mean", _empty((C,), device, dtype))
            self.register_buffer("running_var", _empty((C,), device, dtype) + 1)
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    _ndim, _layout = 4, "(N, C, H, W)"  # what forward accepts (BatchNorm3d: 5-D volumes)

    def forward(self, x):
        if x.ndim != self._ndim:
            raise ValueError(f"{type(self).__name__}: expected a {self._ndim}-D input "
                             f"{self._layout}, got shape {tuple(x.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative average: the k-th batch weighs 1/k
                factor = 1.0 / float(self.num_batches_tracked.data)
        # running statistics: updated in training (if tracked), read in eval; without them
        # (track_running_stats=False) batch statistics are used in both modes
        use_running = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if use_running else None,
                          self.running_var if use_running else None, self.weight, self.bias,
                          self.training or self.running_mean is None, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm3d(BatchNorm2d):
    """``BatchNorm3d(num_features, eps=1e-5, momentum=0.1, affine=True,
    track_running_stats=True)`` over (N, C, D, H, W): the same per-channel statistics, taken
    over the batch and the whole volume."""

    _ndim, _layout = 5, "(N, C, D, H, W)"


class GroupNorm(Module):
    """``GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)``: statistics per sample
    over groups of num_channels / num_groups channels (1 group: LayerNorm over C, H, W;
    num_channels groups: InstanceNorm)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups, num_channels, eps, affine)
        _register_affine(self, affine, bias, num_channels, device, dtype)

    def forward(self, x):
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
