"""Convolution and transposed convolution: an adjoint pair, each written once.

conv2d slides a kernel over the input and takes a weighted sum at each stop::

    y[n, co, oh, ow] = b[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * x[n, ci, oh*s - p + kh*d,
                                                                          ow*s - p + kw*d]

It is linear in x, so it is a (huge, sparse) matrix A_w acting on the flattened input. Its
backward needs A_w^T: and A_w^T is exactly the *transposed convolution* with the same weight.
Read the other way, the transposed conv's backward needs its own transpose, which is conv2d.
So ``Conv2d.backward`` calls the conv_transpose2d kernel and ``ConvTranspose2d.backward``
calls the conv2d kernel; nothing is derived twice. (tests/test_conv.py checks the identity
<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>.)

The loops live in the kernel sets (``tinyunet.kernels``); this file checks arguments, names
the shapes in its errors, and wires forward to backward.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module, kernels
from ..function import Function
from ..tensor import Tensor
from .pairs import pair

# ----- shapes -------------------------------------------------------------------------------


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """Spatial size of ``conv2d``'s output, for one dimension (ints) or both (pairs).

    ``out = floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``

    ``dilation*(kernel_size - 1) + 1`` is the span of the (dilated) kernel; the kernel fits at
    ``size + 2*padding - span`` shifted positions past the first, of which every stride-th is
    kept. The floor drops the last ``stride - 1`` rows when no window reaches them, so
    different input sizes can give the same output: with kernel 3, stride 2, padding 1, both
    7 and 8 give 4. That is why a transposed convolution, which goes from 4 back up, cannot
    know whether to produce 7 or 8, and takes ``output_padding`` to choose.

    >>> conv2d_output_size(7, 3, stride=2, padding=1), conv2d_output_size(8, 3, 2, 1)
    (4, 4)
    """
    return _per_dimension(
        "conv2d_output_size",
        lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s + 1,
        size=size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
    )


def conv_transpose2d_output_size(
    size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1
):
    """Spatial size of ``conv_transpose2d``'s output, for one dimension (ints) or both (pairs).

    ``out = (size - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``

    This inverts ``conv2d_output_size`` (the transposed conv maps a conv's output size back to
    its input size), but the conv's floor made that inverse ambiguous: ``output_padding`` in
    ``[0, stride)`` picks which of the ``stride`` candidate sizes to return.

    >>> [conv_transpose2d_output_size(4, 3, 2, 1, output_padding=op) for op in (0, 1)]
    [7, 8]
    """
    return _per_dimension(
        "conv_transpose2d_output_size",
        lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + d * (k - 1) + op + 1,
        size=size, kernel_size=kernel_size, stride=stride, padding=padding,
        output_padding=output_padding, dilation=dilation,
    )


def _per_dimension(op, formula, **args):
    """Apply ``formula`` to ints, or per dimension to pairs (returning a pair)."""
    if all(isinstance(a, (int, np.integer)) for a in args.values()):
        return int(formula(*args.values()))
    pairs = [pair(op, name, a) for name, a in args.items()]
    return tuple(int(formula(*(p[dim] for p in pairs))) for dim in range(2))


# ----- the two Functions --------------------------------------------------------------------


class Conv2d(Function):
    """y = conv2d(x, w) + b. Inputs (x, w) or (x, w, b); hyper-parameters are (h, w) pairs.

    ``pad_extra`` pads x by that many more zeros at the bottom and right (padding="same"
    with an even kernel needs one more zero on one side than the other, as in PyTorch).
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                pad_extra=(0, 0)):
        x, w, b = _contiguous(x, w, b)
        if pad_extra != (0, 0):
            x = get_array_module(x).pad(x, ((0, 0), (0, 0), (0, pad_extra[0]), (0, pad_extra[1])))
        needs_x, needs_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if needs_w else None, w if needs_x else None)
        ctx.x_shape, ctx.kernel_size, ctx.has_bias = x.shape, w.shape[2:], b is not None
        ctx.stride, ctx.padding, ctx.dilation, ctx.pad_extra = stride, padding, dilation, pad_extra
        return kernels(x).conv2d(x, w, b, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = get_array_module(grad).ascontiguousarray(grad)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # BEGIN SOLUTION task=2.3 hint="dL/dx is the transposed conv of grad, same weight"
            # The adjoint pair: dL/dx = A_w^T grad, and A_w^T is the transposed conv with the
            # same weight. Its output_padding restores the rows the forward's floor dropped.
            H, W = ctx.x_shape[2:]
            natural = conv_transpose2d_output_size(
                grad.shape[2:], ctx.kernel_size, ctx.stride, ctx.padding, 0, ctx.dilation
            )
            output_padding = (H - natural[0], W - natural[1])
            grad_x = kernels(grad).conv_transpose2d(
                grad, w, None, ctx.stride, ctx.padding, output_padding, ctx.dilation
            )
            eh, ew = ctx.pad_extra  # the extra zeros were not part of x: drop their gradient
            grad_x = grad_x[:, :, : H - eh, : W - ew]
            # END SOLUTION
        if ctx.needs_input_grad[1]:
            grad_w = kernels(x).conv2d_grad_weight(
                x, grad, ctx.kernel_size, ctx.stride, ctx.padding, ctx.dilation
            )
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = _sum_but_channels(grad)  # b[co] is added at every (n, oh, ow)
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b, w (C_in, C_out, kH, kW). Inputs (x, w) or (x, w, b)."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                dilation=(1, 1)):
        x, w, b = _contiguous(x, w, b)
        needs_x, needs_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if needs_w else None, w if needs_x else None)
        ctx.x_shape, ctx.kernel_size, ctx.has_bias = x.shape, w.shape[2:], b is not None
        ctx.stride, ctx.padding, ctx.dilation = stride, padding, dilation
        return kernels(x).conv_transpose2d(x, w, b, stride, padding, output_padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = get_array_module(grad).ascontiguousarray(grad)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # The adjoint pair, the other way round: dL/dx is conv2d of grad with the same
            # weight. When output_padding >= stride (allowed while it is < dilation) the conv
            # sees rows past the input's last one; they are not part of x, so they are cut.
            H, W = ctx.x_shape[2:]
            grad_x = kernels(grad).conv2d(grad, w, None, ctx.stride, ctx.padding, ctx.dilation)
            grad_x = grad_x[:, :, :H, :W]
        if ctx.needs_input_grad[1]:
            # y[n, co, ih*s - p + kh*d, iw*s - p + kw*d] collects x[n, ci, ih, iw] *
            # w[ci, co, kh, kw], so
            #   dL/dw[ci, co, kh, kw] = sum_{n, ih, iw} x[n, ci, ih, iw]
            #                               * grad[n, co, ih*s - p + kh*d, iw*s - p + kw*d].
            # That is conv2d's weight gradient, sum_{n,oh,ow} grad_y[n, a, oh, ow]
            # * x[n, b, oh*s - p + kh*d, ...], with the roles swapped: conv2d's "input" is our
            # grad (read at the strided positions), its "grad_y" is our x (summed over its
            # own size), a = ci, b = co. The result is (C_in, C_out, kH, kW), w's own layout.
            grad_w = kernels(grad).conv2d_grad_weight(
                grad, x, ctx.kernel_size, ctx.stride, ctx.padding, ctx.dilation
            )
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = _sum_but_channels(grad)
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


def _sum_but_channels(grad):
    """grad summed over (n, h, w): the bias gradient. einsum runs it 3x faster than
    ``grad.sum(axis=(0, 2, 3))`` (one pass, no intermediate over n)."""
    return get_array_module(grad).einsum("nchw->c", grad)


def _contiguous(x, w, b):
    """C-contiguous arrays, the weight and bias in the input's dtype (the output follows x)."""
    xp = get_array_module(x)  # NumPy, or CuPy on a GPU
    x = xp.ascontiguousarray(x)
    w = xp.ascontiguousarray(w, dtype=x.dtype)
    b = None if b is None else xp.ascontiguousarray(b, dtype=x.dtype)
    return x, w, b


# ----- the public functions -----------------------------------------------------------------


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1) -> Tensor:
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None. ``stride``,
    ``padding``, ``dilation`` are ints or (h, w) pairs; ``padding`` may also be ``"valid"``
    (no padding) or ``"same"`` (output size = input size, stride 1 only; for an even
    effective kernel the extra zero goes at the bottom/right, as in PyTorch). Output
    (N, C_out, H_out, W_out), sizes from ``conv2d_output_size``.
    """
    op = "conv2d"
    x, weight, bias = _tensors(op, x, weight, bias, "(C_out, C_in, kH, kW)")
    C_out, C_in, kH, kW = weight.shape
    _check_channels(op, x, weight, C_in, C_out, bias, "")
    stride = pair(op, "stride", stride, minimum=1)
    dilation = pair(op, "dilation", dilation, minimum=1)
    pad_extra = (0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions "
                    f"(stride={stride}); use an explicit padding"
                )
            total = (dilation[0] * (kH - 1), dilation[1] * (kW - 1))
            padding = (total[0] // 2, total[1] // 2)
            pad_extra = (total[0] % 2, total[1] % 2)
        else:
            raise ValueError(
                f"{op}: padding must be 'same', 'valid', an int or a pair of ints, "
                f"got {padding!r}"
            )
    else:
        padding = pair(op, "padding", padding, minimum=0)
    H, W = x.shape[2:]
    span = (dilation[0] * (kH - 1) + 1, dilation[1] * (kW - 1) + 1)
    padded = (H + 2 * padding[0] + pad_extra[0], W + 2 * padding[1] + pad_extra[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{op}: kernel ({kH}, {kW}) with dilation {dilation} spans {span}, larger than the "
            f"padded input {padded} (input ({H}, {W}) with padding {padding}); "
            f"input shape {x.shape}, weight shape {weight.shape}"
        )
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d.apply(
        *inputs, stride=stride, padding=padding, dilation=dilation, pad_extra=pad_extra
    )


def conv_transpose2d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1
) -> Tensor:
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    x (N, C_in, H, W), weight (C_in, C_out, kH, kW) (note: in-channels first, the transpose of
    conv2d's layout), bias (C_out,) or None. Each input value paints a copy of the kernel,
    scaled by itself, into the output at ``(ih*s - p + kh*d, iw*s - p + kw*d)``; overlapping
    paint adds up. ``padding`` crops that many rows/columns off each border; ``output_padding``
    (< max(stride, dilation)) adds rows/columns at the bottom/right, to pick among the input
    sizes a strided conv2d maps to the same size (see ``conv_transpose2d_output_size``).

    A worked example to check by hand, one channel in and out, kernel of ones::

        x = [[1, 2],      w = [[1, 1],
             [3, 4]]           [1, 1]]

        stride 1: each x value paints a 2x2 block of itself, one pixel apart, and overlaps add:
            [[1, 1+2,     2  ],        [[1,  3, 2],
             [1+3, 1+2+3+4, 2+4],   =   [4, 10, 6],
             [3, 3+4,     4  ]]         [3,  7, 4]]

        stride 2: the blocks land two pixels apart and no longer overlap, each value is
        copied into a 2x2 block: the "up-convolution" of the U-Net:
            [[1, 1, 2, 2],
             [1, 1, 2, 2],
             [3, 3, 4, 4],
             [3, 3, 4, 4]]
    """
    op = "conv_transpose2d"
    x, weight, bias = _tensors(op, x, weight, bias, "(C_in, C_out, kH, kW)")
    C_in, C_out, kH, kW = weight.shape
    _check_channels(op, x, weight, C_in, C_out, bias, " (a transposed conv's weight is "
                    "(C_in, C_out, kH, kW))")
    stride = pair(op, "stride", stride, minimum=1)
    dilation = pair(op, "dilation", dilation, minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair of ints, got {padding!r}")
    padding = pair(op, "padding", padding, minimum=0)
    output_padding = pair(op, "output_padding", output_padding, minimum=0)
    for dim in range(2):
        if output_padding[dim] >= max(stride[dim], dilation[dim]):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be smaller than either stride "
                f"{stride} or dilation {dilation}, in each dimension"
            )
    out = conv_transpose2d_output_size(
        x.shape[2:], (kH, kW), stride, padding, output_padding, dilation
    )
    if out[0] < 1 or out[1] < 1:
        raise ValueError(
            f"{op}: output size would be {out} for input shape {x.shape} and weight shape "
            f"{weight.shape} with stride {stride}, padding {padding}, output_padding "
            f"{output_padding}, dilation {dilation}: the padding crops away everything"
        )
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d.apply(
        *inputs, stride=stride, padding=padding, output_padding=output_padding,
        dilation=dilation,
    )


# ----- argument checks ----------------------------------------------------------------------


def _tensors(op, x, weight, bias, weight_layout):
    """Lift to Tensors and check rank and dtype; errors name the offending shape."""
    x, weight = _tensor(x), _tensor(weight)
    bias = None if bias is None else _tensor(bias)
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D {weight_layout}, got shape {weight.shape}")
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{op}: {name} has dtype {t.dtype}; convolutions need float32 or float64 "
                f"(convert with .astype(np.float32))"
            )
    return x, weight, bias


def _tensor(a):
    return a if isinstance(a, Tensor) else Tensor(a)


def _check_channels(op, x, weight, C_in, C_out, bias, note):
    if x.shape[1] != C_in:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels but weight {weight.shape} expects "
            f"{C_in}{note}; input shape {x.shape}"
        )
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(
            f"{op}: bias must have shape ({C_out},) to match weight {weight.shape}, "
            f"got {bias.shape}"
        )


__all__ = [
    "Conv2d", "ConvTranspose2d", "conv2d", "conv_transpose2d",
    "conv2d_output_size", "conv_transpose2d_output_size",
]
