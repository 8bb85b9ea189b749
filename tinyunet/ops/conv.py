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

With ``groups`` = G the channels split into G independent convolutions: group g reads input
channels ``g C_in/G .. (g+1) C_in/G - 1`` and writes output channels ``g C_out/G ..``, so the
weight is (C_out, C_in/G, kH, kW) (transposed: (C_in, C_out/G, kH, kW)). ``groups = C_in``
is a *depthwise* conv: one filter per channel, no mixing. The kernels know nothing of groups:
``_per_group`` cuts the arrays into the G groups, runs the kernel on each and joins the
results, and the adjoint pair holds group by group.

The loops live in the kernel sets (``tinyunet.kernels``); the shapes and the checks that name
them live in ``conv_shapes.py``; this file wires forward to backward.
"""

from __future__ import annotations

from ..backend import get_array_module, kernels
from ..function import Function
from ..tensor import Tensor
from .conv_shapes import (
    check_channels,
    conv2d_output_size,
    conv_inputs,
    conv_transpose2d_output_size,
    same_padding,
)
from .pairs import pair

# ----- groups -------------------------------------------------------------------------------


def _per_group(fn, groups, pieces, axis):
    """``fn`` applied group by group and the results joined along ``axis``.

    ``pieces`` are (array, axis) pairs: each array is cut into ``groups`` equal, contiguous
    chunks along its axis (None stays None), and group g's call sees the g-th chunk of each.
    """
    arrays = [a for a, _ in pieces]
    if groups == 1:
        return fn(*arrays)
    xp = get_array_module(arrays[0])
    chunks = [[None] * groups if a is None else
              [xp.ascontiguousarray(c) for c in xp.split(a, groups, axis=ax)]
              for a, ax in pieces]
    return xp.concatenate([fn(*group) for group in zip(*chunks)], axis=axis)


# ----- the two Functions --------------------------------------------------------------------


class Conv2d(Function):
    """y = conv2d(x, w) + b. Inputs (x, w) or (x, w, b); hyper-parameters are (h, w) pairs.

    ``pad_extra`` pads x by that many more zeros at the bottom and right (padding="same"
    with an even kernel needs one more zero on one side than the other, as in PyTorch).
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                pad_extra=(0, 0), groups=1):
        x, w, b = contiguous_operands(x, w, b)
        if pad_extra != (0, 0):
            x = get_array_module(x).pad(x, ((0, 0), (0, 0), (0, pad_extra[0]), (0, pad_extra[1])))
        needs_x, needs_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if needs_w else None, w if needs_x else None)
        ctx.x_shape, ctx.w_shape, ctx.has_bias = x.shape, w.shape, b is not None
        ctx.stride, ctx.padding, ctx.dilation, ctx.pad_extra = stride, padding, dilation, pad_extra
        ctx.groups = groups
        if x.shape[0] == 0:  # an empty batch: nothing for the kernels to do
            out = conv2d_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
            return get_array_module(x).zeros((0, w.shape[0], *out), dtype=x.dtype)
        return _per_group(lambda x, w, b: kernels(x).conv2d(x, w, b, stride, padding, dilation),
                          groups, [(x, 1), (w, 0), (b, 0)], axis=1)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        xp = get_array_module(grad)
        grad = xp.ascontiguousarray(grad)
        grad_x = grad_w = grad_b = None
        hyper = (ctx.stride, ctx.padding)
        if ctx.needs_input_grad[0]:
            # BEGIN SOLUTION task=2.3 hint="dL/dx is the transposed conv of grad, same weight"
            # The adjoint pair: dL/dx = A_w^T grad, and A_w^T is the transposed conv with the
            # same weight. Its output_padding restores the rows the forward's floor dropped.
            H, W = ctx.x_shape[2:]
            natural = conv_transpose2d_output_size(
                grad.shape[2:], ctx.w_shape[2:], ctx.stride, ctx.padding, 0, ctx.dilation
            )
            output_padding = (H - natural[0], W - natural[1])
            grad_x = xp.zeros(ctx.x_shape, dtype=grad.dtype) if grad.shape[0] == 0 else \
                _per_group(lambda g, w: kernels(g).conv_transpose2d(
                    g, w, None, *hyper, output_padding, ctx.dilation),
                    ctx.groups, [(grad, 1), (w, 0)], axis=1)
            eh, ew = ctx.pad_extra  # the extra zeros were not part of x: drop their gradient
            grad_x = grad_x[:, :, : H - eh, : W - ew]
            # END SOLUTION
        if ctx.needs_input_grad[1]:
            grad_w = xp.zeros(ctx.w_shape, dtype=grad.dtype) if grad.shape[0] == 0 else \
                _per_group(lambda x, g: kernels(x).conv2d_grad_weight(
                    x, g, ctx.w_shape[2:], *hyper, ctx.dilation),
                    ctx.groups, [(x, 1), (grad, 1)], axis=0)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = _sum_but_channels(grad)  # b[co] is added at every (n, oh, ow)
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b, w (C_in, C_out/groups, kH, kW). Inputs (x, w) or
    (x, w, b)."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                dilation=(1, 1), groups=1):
        x, w, b = contiguous_operands(x, w, b)
        needs_x, needs_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if needs_w else None, w if needs_x else None)
        ctx.x_shape, ctx.w_shape, ctx.has_bias = x.shape, w.shape, b is not None
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, groups
        if x.shape[0] == 0:
            out = conv_transpose2d_output_size(x.shape[2:], w.shape[2:], stride, padding,
                                               output_padding, dilation)
            return get_array_module(x).zeros((0, w.shape[1] * groups, *out), dtype=x.dtype)
        return _per_group(lambda x, w, b: kernels(x).conv_transpose2d(
            x, w, b, stride, padding, output_padding, dilation),
            groups, [(x, 1), (w, 0), (b, 0)], axis=1)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        xp = get_array_module(grad)
        grad = xp.ascontiguousarray(grad)
        grad_x = grad_w = grad_b = None
        hyper = (ctx.stride, ctx.padding, ctx.dilation)
        if ctx.needs_input_grad[0]:
            # The adjoint pair, the other way round: dL/dx is conv2d of grad with the same
            # weight. When output_padding >= stride (allowed while it is < dilation) the conv
            # sees rows past the input's last one; they are not part of x, so they are cut.
            H, W = ctx.x_shape[2:]
            grad_x = xp.zeros(ctx.x_shape, dtype=grad.dtype) if grad.shape[0] == 0 else \
                _per_group(lambda g, w: kernels(g).conv2d(g, w, None, *hyper),
                           ctx.groups, [(grad, 1), (w, 0)], axis=1)[:, :, :H, :W]
        if ctx.needs_input_grad[1]:
            # y[n, co, ih*s - p + kh*d, iw*s - p + kw*d] collects x[n, ci, ih, iw] *
            # w[ci, co, kh, kw], so
            #   dL/dw[ci, co, kh, kw] = sum_{n, ih, iw} x[n, ci, ih, iw]
            #                               * grad[n, co, ih*s - p + kh*d, iw*s - p + kw*d].
            # That is conv2d's weight gradient, sum_{n,oh,ow} grad_y[n, a, oh, ow]
            # * x[n, b, oh*s - p + kh*d, ...], with the roles swapped: conv2d's "input" is our
            # grad (read at the strided positions), its "grad_y" is our x (summed over its
            # own size), a = ci, b = co. The result is (C_in, C_out, kH, kW), w's own layout.
            grad_w = xp.zeros(ctx.w_shape, dtype=grad.dtype) if grad.shape[0] == 0 else \
                _per_group(lambda g, x: kernels(g).conv2d_grad_weight(
                    g, x, ctx.w_shape[2:], *hyper), ctx.groups, [(grad, 1), (x, 1)], axis=0)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = _sum_but_channels(grad)
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


def _sum_but_channels(grad):
    """grad summed over (n, h, w): the bias gradient. einsum runs it 3x faster than
    ``grad.sum(axis=(0, 2, 3))`` (one pass, no intermediate over n)."""
    return get_array_module(grad).einsum("nchw->c", grad)


def contiguous_operands(x, w, b):
    """C-contiguous arrays, the weight and bias in the input's dtype (the output follows x)."""
    xp = get_array_module(x)  # NumPy, or CuPy on a GPU
    x = xp.ascontiguousarray(x)
    w = xp.ascontiguousarray(w, dtype=x.dtype)
    b = None if b is None else xp.ascontiguousarray(b, dtype=x.dtype)
    return x, w, b


# ----- the public functions -----------------------------------------------------------------


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    x (N, C_in, H, W) or unbatched (C_in, H, W), weight (C_out, C_in/groups, kH, kW), bias
    (C_out,) or None. ``stride``, ``padding``, ``dilation`` are ints or (h, w) pairs;
    ``padding`` may also be ``"valid"`` (no padding) or ``"same"`` (output size = input size,
    stride 1 only; for an even effective kernel the extra zero goes at the bottom/right, as
    in PyTorch). ``groups`` splits the channels into that many independent convolutions (see
    the module docstring; ``groups=C_in`` is depthwise). Output (N, C_out, H_out, W_out),
    sizes from ``conv2d_output_size``.
    """
    op = "conv2d"
    x, weight, bias, groups, unbatched = conv_inputs(op, input, weight, bias, groups,
                                                     "(C_out, C_in / groups, kH, kW)")
    check_channels(op, x, weight, groups, bias, transposed=False)
    kH, kW = weight.shape[2:]
    stride = pair(op, "stride", stride, minimum=1)
    dilation = pair(op, "dilation", dilation, minimum=1)
    pad_extra = (0, 0)
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        padding, pad_extra = same_padding(op, (kH, kW), stride, dilation)
    elif isinstance(padding, str):
        raise ValueError(f"{op}: padding must be 'same', 'valid', an int or a pair of ints, "
                         f"got {padding!r}")
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
    y = Conv2d.apply(*inputs, stride=stride, padding=padding, dilation=dilation,
                     pad_extra=pad_extra, groups=groups)
    return y.squeeze(0) if unbatched else y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d`` (and in its
    argument order: ``groups`` comes before ``dilation``).

    x (N, C_in, H, W) or unbatched (C_in, H, W), weight (C_in, C_out/groups, kH, kW) (note:
    in-channels first, the transpose of conv2d's layout), bias (C_out,) or None. Each input
    value paints a copy of the kernel, scaled by itself, into the output at
    ``(ih*s - p + kh*d, iw*s - p + kw*d)``; overlapping paint adds up. ``padding`` crops that
    many rows/columns off each border; ``output_padding`` (< max(stride, dilation)) adds
    rows/columns at the bottom/right, to pick among the input sizes a strided conv2d maps to
    the same size (see ``conv_transpose2d_output_size``). ``groups`` as in ``conv2d``.

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
    x, weight, bias, groups, unbatched = conv_inputs(op, input, weight, bias, groups,
                                                     "(C_in, C_out / groups, kH, kW)")
    check_channels(op, x, weight, groups, bias, transposed=True)
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
        x.shape[2:], weight.shape[2:], stride, padding, output_padding, dilation
    )
    if out[0] < 1 or out[1] < 1:
        raise ValueError(
            f"{op}: output size would be {out} for input shape {x.shape} and weight shape "
            f"{weight.shape} with stride {stride}, padding {padding}, output_padding "
            f"{output_padding}, dilation {dilation}: the padding crops away everything"
        )
    inputs = (x, weight) if bias is None else (x, weight, bias)
    y = ConvTranspose2d.apply(*inputs, stride=stride, padding=padding,
                              output_padding=output_padding, dilation=dilation, groups=groups)
    return y.squeeze(0) if unbatched else y


__all__ = [
    "Conv2d", "ConvTranspose2d", "conv2d", "conv_transpose2d",
    "conv2d_output_size", "conv_transpose2d_output_size",
]
