"""Batch normalisation and group normalisation: the same normalisation over different sets.

Both standardise x over a set S of m elements, then scale and shift per channel c::

    mu  = (1/m) sum_{i in S} x_i
    var = (1/m) sum_{i in S} (x_i - mu)^2          (biased: divide by m, as PyTorch)
    r   = 1 / sqrt(var + eps)
    xhat_i = (x_i - mu) r
    y_i    = gamma_c xhat_i + beta_c

batch_norm's S is one channel over the batch and the image: all (n, h, w) for fixed c.
group_norm's S is one sample and one group of channels: all (c in g, h, w) for fixed (n, g).

The backward, given g_i = dL/dy_i. The affine part is direct::

    dL/dbeta_c  = sum g_i               dL/dgamma_c = sum g_i xhat_i
    ghat_i = dL/dxhat_i = g_i gamma_c

(summed over every element that channel c touches). For the normalisation, mu and var depend
on every x_j of the set: d mu/dx_j = 1/m and d var/dx_j = (2/m)(x_j - mu) (the mu-term of the
chain rule sums to zero), so dr/dx_j = -r^3 (x_j - mu)/m = -r^2 xhat_j / m, and

    d xhat_i / d x_j = r (delta_ij - 1/m) + (x_i - mu) dr/dx_j
                     = r (delta_ij - 1/m - xhat_i xhat_j / m).

Summing ghat_i against it gives the whole backward in one vectorised line::

    dL/dx_j = r (ghat_j - mean_S(ghat) - xhat_j mean_S(ghat xhat))

(the gradient with its mean and its component along xhat removed: the two directions that
normalising makes invisible). In eval mode batch_norm uses fixed running statistics, nothing
depends on the batch, and dL/dx = g gamma r.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..function import Function
from ..tensor import Tensor


def _channel_shape(x):
    """(1, C, 1, 1, ...): a per-channel vector reshaped to broadcast over x."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _normalize_backward(ghat, xhat, r, axes):
    """dL/dx = r (ghat - mean(ghat) - xhat mean(ghat xhat)), means over the set ``axes``."""
    return r * (ghat - ghat.mean(axis=axes, keepdims=True)
                - xhat * (ghat * xhat).mean(axis=axes, keepdims=True))


class BatchNorm(Function):
    """Batch norm over (N, C, *): statistics per channel over all axes but 1.

    In training mode the batch statistics normalise, and the running statistics (arrays,
    updated in place, as PyTorch's kernel does) move towards them::

        running_mean = (1 - momentum) running_mean + momentum mu
        running_var  = (1 - momentum) running_var  + momentum var * m / (m - 1)

    (the running variance is the *unbiased* one). In eval mode the running statistics
    normalise and stay fixed.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, training=False,
                momentum=0.1, eps=1e-5):
        xp = get_array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = _channel_shape(x)
        if training:
            mu = x.mean(axis=axes, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
            if running_mean is not None:
                m = x.size // x.shape[1]
                running_mean *= 1 - momentum
                running_mean += momentum * mu.reshape(-1)
                running_var *= 1 - momentum
                running_var += momentum * var.reshape(-1) * (m / (m - 1))
        else:
            mu, var = running_mean.reshape(shape), running_var.reshape(shape)
        r = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = (x - mu) * r
        ctx.save_for_backward(xhat, r, weight)
        ctx.axes, ctx.training = axes, training
        return xhat * weight.reshape(shape) + bias.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        xhat, r, weight = ctx.saved_tensors
        axes = ctx.axes
        ghat = grad * weight.reshape(_channel_shape(grad))
        if not ctx.needs_input_grad[0]:
            grad_x = None
        elif ctx.training:
            grad_x = _normalize_backward(ghat, xhat, r, axes)
        else:
            grad_x = ghat * r
        grad_weight = (grad * xhat).sum(axis=axes) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(axis=axes) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


class GroupNorm(Function):
    """Group norm over (N, C, *): statistics per sample and per group of C/G channels."""

    @staticmethod
    def forward(ctx, x, weight, bias, num_groups=1, eps=1e-5):
        xp = get_array_module(x)
        per_group = x.shape[1] // num_groups * int(np.prod(x.shape[2:]))   # C/G * H * W
        groups = x.reshape(x.shape[0], num_groups, per_group)  # one row per normalised set
        mu = groups.mean(axis=2, keepdims=True)
        var = ((groups - mu) ** 2).mean(axis=2, keepdims=True)
        r = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = (groups - mu) * r
        ctx.save_for_backward(xhat, r, weight)
        ctx.shape = x.shape
        shape = _channel_shape(x)
        return xhat.reshape(x.shape) * weight.reshape(shape) + bias.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        xhat, r, weight = ctx.saved_tensors
        axes = (0,) + tuple(range(2, grad.ndim))  # a channel's gamma touches these
        grad_x = None
        if ctx.needs_input_grad[0]:
            ghat = (grad * weight.reshape(_channel_shape(grad))).reshape(xhat.shape)
            grad_x = _normalize_backward(ghat, xhat, r, axes=2).reshape(ctx.shape)
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = (grad * xhat.reshape(ctx.shape)).sum(axis=axes)
        grad_bias = grad.sum(axis=axes) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


# ----- the public functions -----------------------------------------------------------------


def _array(t):
    return t.data if isinstance(t, Tensor) else t


def _affine(op, x, weight, bias, C):
    """Default gamma = 1, beta = 0 (constants: no gradient), and check both are (C,)."""
    xp = get_array_module(x.data)
    weight = xp.ones(C, dtype=x.dtype) if weight is None else weight
    bias = xp.zeros(C, dtype=x.dtype) if bias is None else bias
    for name, p in (("weight", weight), ("bias", bias)):
        if tuple(p.shape) != (C,):
            raise ValueError(f"{op}: {name} has shape {tuple(p.shape)} but the input of shape "
                             f"{x.shape} has {C} channels, so it must be ({C},)")
    return weight, bias


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5) -> Tensor:
    """Batch normalisation of (N, C, *), as ``torch.nn.functional.batch_norm``.

    ``running_mean`` / ``running_var`` are (C,) arrays or Tensors (None allowed in training,
    where batch statistics are used and nothing is tracked); in training they are updated in
    place with ``momentum``. ``weight`` (gamma) and ``bias`` (beta) are (C,) or None. An empty
    input comes back empty and leaves the running statistics alone, as in PyTorch.
    """
    x = Tensor._lift(input)
    if x.numel() == 0 and x.ndim >= 1:
        return x * 1  # nothing to normalise (a new tensor, still in the graph)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input (N, C, ...), got shape {x.shape}")
    C = x.shape[1]
    if training and x.numel() // C <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    running_mean, running_var = _array(running_mean), _array(running_var)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and "
                         "running_var")
    for name, s in (("running_mean", running_mean), ("running_var", running_var)):
        if s is not None and tuple(s.shape) != (C,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(s.shape)} but the input of "
                             f"shape {x.shape} has {C} channels")
    weight, bias = _affine("batch_norm", x, weight, bias, C)
    with np.errstate(invalid="ignore"):  # a negative eps may take a square root of < 0: NaN
        return BatchNorm.apply(x, weight, bias, running_mean=running_mean,
                               running_var=running_var, training=bool(training),
                               momentum=momentum, eps=eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Group normalisation of (N, C, *), as ``torch.nn.functional.group_norm``.

    A group of a single value normalises to 0 (its variance is 0), so the output there is the
    bias; PyTorch refuses only an input whose whole batch holds one value per group
    (``N * C / G * H * W == 1``), and so does this. An empty batch comes back empty.
    """
    x = Tensor._lift(input)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected an input (N, C, ...), got shape {x.shape}")
    C = x.shape[1]
    if isinstance(num_groups, bool) or num_groups < 1 or C % num_groups:
        raise ValueError(f"group_norm: {C} channels (input shape {x.shape}) cannot be split "
                         f"into {num_groups} groups; num_groups must divide the channel count")
    if x.shape[0] * (C // num_groups) * int(np.prod(x.shape[2:])) == 1:
        raise ValueError(f"group_norm: expected more than 1 value per group, got input of shape "
                         f"{x.shape} with {num_groups} groups")
    weight, bias = _affine("group_norm", x, weight, bias, C)
    with np.errstate(invalid="ignore"):
        return GroupNorm.apply(x, weight, bias, num_groups=int(num_groups), eps=eps)
