"""A convolution and the ReLU after it, as one op: the same numbers, one pass fewer.

Every conv of the U-Net's blocks is followed by a ReLU with nothing between (no norm)::

    a = relu(conv2d(x, w) + b)

Written as two ops, the conv writes its output z to memory, the ReLU reads it back and writes
a, and the graph keeps z alive until the backward (the ReLU's input). As one op the ReLU is
applied while the conv writes its output, and z never exists. The backward is the chain rule
through both, in order::

    dL/dz = dL/da * [a > 0]                       the ReLU's mask (a > 0 exactly where z > 0)
    dL/db = sum over (n, h, w) of dL/dz           computed in the same pass as the mask
    dL/dw = conv2d's weight gradient of dL/dz,    dL/dx = conv_transpose2d(dL/dz, w)

A kernel set that has the fused kernels (``conv2d_relu``, ``relu_backward_sum``: the numba
set) runs them; any other composes its plain ``conv2d`` and ``relu`` kernels, so the op means
exactly ``relu(conv2d(...))`` everywhere, and the tests hold it to that.
"""

from __future__ import annotations

import sys

import numpy as np

from ..backend import get_array_module, kernels
from ..function import Function
from ..tensor import Tensor
from .conv import conv2d, conv_transpose2d_output_size
from .pairs import pair


class Conv2dReLU(Function):
    """a = relu(conv2d(x, w) + b). Inputs (x, w) or (x, w, b); hyper-parameters as pairs."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
        xp = get_array_module(x)
        x = xp.ascontiguousarray(x)
        w = xp.ascontiguousarray(w, dtype=x.dtype)
        b = None if b is None else xp.ascontiguousarray(b, dtype=x.dtype)
        k = kernels(x)
        if hasattr(k, "conv2d_relu"):
            a = k.conv2d_relu(x, w, b, stride, padding, dilation)
        else:
            a = k.relu(k.conv2d(x, w, b, stride, padding, dilation))
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None,
                              w if ctx.needs_input_grad[0] else None, a)
        ctx.x_shape, ctx.kernel_size, ctx.has_bias = x.shape, w.shape[2:], b is not None
        ctx.stride, ctx.padding, ctx.dilation = stride, padding, dilation
        return a

    @staticmethod
    def backward(ctx, grad):
        x, w, a = ctx.saved_tensors
        k = kernels(grad, a)
        if hasattr(k, "relu_backward_sum"):
            out = grad if _owned(grad) else None  # (asked first: an argument list holds it too)
            grad_z, grad_b = k.relu_backward_sum(grad, a, out=out)
            out = None
        else:
            grad_z = k.relu_backward(grad, a)
            grad_b = get_array_module(grad_z).einsum("nchw->c", grad_z) if ctx.has_bias else None
        if ctx.last_use:  # the output a was needed for the mask only
            ctx.saved_tensors = (x, w, None)
        del grad, a  # freed here where nothing else holds them, before grad_x is made
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:  # the adjoint: a transposed conv with the same weight
            H, W = ctx.x_shape[2:]
            natural = conv_transpose2d_output_size(grad_z.shape[2:], ctx.kernel_size, ctx.stride,
                                                   ctx.padding, 0, ctx.dilation)
            grad_x = k.conv_transpose2d(grad_z, w, None, ctx.stride, ctx.padding,
                                        (H - natural[0], W - natural[1]), ctx.dilation)
        if ctx.needs_input_grad[1]:
            grad_w = k.conv2d_grad_weight(x, grad_z, ctx.kernel_size, ctx.stride, ctx.padding,
                                          ctx.dilation)
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


def _owned(grad) -> bool:
    """Whether ``grad``'s memory is the calling backward's alone, to be overwritten: the engine
    handed it over and keeps none, so the caller's name and this argument are its only
    references, and it is no view into an array that something else holds (the whole of a
    base that only it refers to, as a conv's gradient trimmed to shape, is fine)."""
    base = grad.base
    return (sys.getrefcount(grad) <= 3 and grad.flags.c_contiguous and grad.flags.writeable
            and (base is None or (isinstance(base, np.ndarray) and base.size == grad.size
                                  and sys.getrefcount(base) <= 3)))


def conv2d_relu(x, weight, bias=None, stride=1, padding=0, dilation=1) -> Tensor:
    """``relu(conv2d(x, weight, bias, stride, padding, dilation))`` as one op (see above).

    The arguments are ``conv2d``'s, x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias
    (C_out,) or None; a string padding (``"same"``, ``"valid"``) takes the two ops, which
    handle it.
    """
    if isinstance(padding, str):
        return conv2d(x, weight, bias, stride, padding, dilation).relu()
    op = "conv2d_relu"
    x, weight = Tensor._lift(x), Tensor._lift(weight)
    bias = None if bias is None else Tensor._lift(bias)
    stride = pair(op, "stride", stride, minimum=1)
    padding = pair(op, "padding", padding, minimum=0)
    dilation = pair(op, "dilation", dilation, minimum=1)
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"{op}: input (N, C_in, H, W) and weight (C_out, C_in, kH, kW) must "
                         f"be 4-D, got shapes {x.shape} and {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight {weight.shape} "
                         f"expects {weight.shape[1]}; input shape {x.shape}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},) to match weight "
                         f"{weight.shape}, got {bias.shape}")
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: {name} has dtype {t.dtype}; convolutions need float32 or "
                            "float64")
    span = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
    padded = [n + 2 * p for n, p in zip(x.shape[2:], padding)]
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"{op}: kernel {tuple(weight.shape[2:])} with dilation {dilation} "
                         f"spans {tuple(span)}, larger than the padded input {tuple(padded)}; "
                         f"input shape {x.shape}, weight shape {weight.shape}")
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2dReLU.apply(*inputs, stride=stride, padding=padding, dilation=dilation)


__all__ = ["Conv2dReLU", "conv2d_relu"]
