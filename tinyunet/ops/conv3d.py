"""3-D convolution and transposed convolution: an adjoint pair, each written once.

conv3d is conv2d (ops/conv.py) with a depth axis in front of height::

    y[n, co, od, oh, ow] = b[co] + sum_{ci, kd, kh, kw} w[co, ci, kd, kh, kw]
                                       * x[n, ci, od*s_D - p_D + kd*d_D, oh*s_H - p_H + kh*d_H,
                                                  ow*s_W - p_W + kw*d_W]

It is linear in x, a matrix A_w; its backward needs A_w^T, which is the transposed convolution
with the same weight, and the transposed convolution's backward is conv3d. So
``Conv3d.backward`` calls the conv_transpose3d kernel and ``ConvTranspose3d.backward`` calls the
conv3d kernel (tests/test_conv3d.py checks <conv3d(x, w), y> == <x, conv_transpose3d(y, w)>).

``groups`` splits the channels into independent convolutions (group g reads input channels
g*C_in/G to (g+1)*C_in/G and writes its own C_out/G), done here by slicing and concatenating,
so the kernels only ever see one group. A 4-D input (C, D, H, W) is one unbatched sample.
This file checks arguments, names the shapes in its errors, and wires forward to backward;
the loops live in the kernel sets (``tinyunet.kernels.*.conv3d``, the CUDA set for arrays on
a GPU).
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module, kernels
from ..function import Function
from ..tensor import Tensor
from .concat import cat
from .conv import contiguous_operands
from .triples import triple


def _out(n, k, s, p, d):
    """One axis of conv3d: the kernel's span d(k - 1) + 1 fits at n + 2p - span shifted
    positions past the first, of which every s-th is kept."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _transposed_out(n, k, s, p, op, d):
    """One axis of conv_transpose3d: the inverse of ``_out``, output_padding op picking among
    the s input sizes that _out's floor maps to one output size."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def conv3d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """conv3d's output size per axis, for ints or (d, h, w) triples:
    ``out = (size + 2*padding - dilation*(kernel_size - 1) - 1) // stride + 1``."""
    return _per_axis("conv3d_output_size", _out, size=size, kernel_size=kernel_size,
                     stride=stride, padding=padding, dilation=dilation)


def conv_transpose3d_output_size(size, kernel_size, stride=1, padding=0, output_padding=0,
                                 dilation=1):
    """conv_transpose3d's output size per axis, for ints or triples:
    ``out = (size - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``."""
    return _per_axis("conv_transpose3d_output_size", _transposed_out, size=size,
                     kernel_size=kernel_size, stride=stride, padding=padding,
                     output_padding=output_padding, dilation=dilation)


def _per_axis(op, formula, **args):
    if all(isinstance(a, (int, np.integer)) for a in args.values()):
        return int(formula(*args.values()))
    triples = [triple(op, name, a) for name, a in args.items()]
    return tuple(int(formula(*(t[axis] for t in triples))) for axis in range(3))


# ----- the two Functions --------------------------------------------------------------------


class Conv3d(Function):
    """y = conv3d(x, w) + b. Inputs (x, w) or (x, w, b); hyper-parameters are triples.
    ``pad_extra`` pads that many more zeros after the last voxel of each axis ('same' with an
    even kernel, as PyTorch)."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1),
                pad_extra=(0, 0, 0)):
        x, w, b = contiguous_operands(x, w, b)
        if pad_extra != (0, 0, 0):
            x = get_array_module(x).pad(x, ((0, 0), (0, 0), *((0, e) for e in pad_extra)))
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None,
                              w if ctx.needs_input_grad[0] else None)
        ctx.x_shape, ctx.kernel_size, ctx.has_bias = x.shape, w.shape[2:], b is not None
        ctx.hyper, ctx.pad_extra = (stride, padding, dilation), pad_extra
        return kernels(x).conv3d(x, w, b, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = get_array_module(grad).ascontiguousarray(grad)
        stride, padding, dilation = ctx.hyper
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # The adjoint pair: dL/dx = A_w^T grad, the transposed conv with the same weight;
            # output_padding restores the voxels the forward's floor dropped.
            size = ctx.x_shape[2:]
            natural = conv_transpose3d_output_size(grad.shape[2:], ctx.kernel_size, stride,
                                                   padding, 0, dilation)
            output_padding = tuple(n - m for n, m in zip(size, natural))
            grad_x = kernels(grad).conv_transpose3d(grad, w, None, stride, padding,
                                                    output_padding, dilation)
            (ed, eh, ew), (D, H, W) = ctx.pad_extra, size  # the extra zeros were not x
            grad_x = grad_x[:, :, :D - ed, :H - eh, :W - ew]
        if ctx.needs_input_grad[1]:
            grad_w = kernels(x).conv3d_grad_weight(x, grad, ctx.kernel_size, *ctx.hyper)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = get_array_module(grad).einsum("ncdhw->c", grad)  # b[co] at every voxel
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


class ConvTranspose3d(Function):
    """y = conv_transpose3d(x, w) + b, w (C_in, C_out, kD, kH, kW). Inputs (x, w) or (x, w, b)."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1, 1), padding=(0, 0, 0),
                output_padding=(0, 0, 0), dilation=(1, 1, 1)):
        x, w, b = contiguous_operands(x, w, b)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None,
                              w if ctx.needs_input_grad[0] else None)
        ctx.x_shape, ctx.kernel_size, ctx.has_bias = x.shape, w.shape[2:], b is not None
        ctx.hyper = (stride, padding, dilation)
        return kernels(x).conv_transpose3d(x, w, b, stride, padding, output_padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = get_array_module(grad).ascontiguousarray(grad)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # The adjoint pair the other way round: dL/dx is conv3d of grad with the same
            # weight, cut to x's size (output_padding >= stride reaches past x's last voxel).
            D, H, W = ctx.x_shape[2:]
            grad_x = kernels(grad).conv3d(grad, w, None, *ctx.hyper)[:, :, :D, :H, :W]
        if ctx.needs_input_grad[1]:
            # y[n, co, id*s - p + kd*d, ...] collects x[n, ci, id, ...] * w[ci, co, kd, ...],
            # so dL/dw[ci, co, kd, kh, kw] = sum_{n, id, ih, iw} x[n, ci, id, ih, iw]
            #     * grad[n, co, id*s_D - p_D + kd*d_D, ih*s_H - p_H + kh*d_H, ...]:
            # conv3d's weight gradient with the roles swapped (its "input" is grad, its
            # "grad_y" is x), which comes out in w's own (C_in, C_out, kD, kH, kW) layout.
            grad_w = kernels(grad).conv3d_grad_weight(grad, x, ctx.kernel_size, *ctx.hyper)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = get_array_module(grad).einsum("ncdhw->c", grad)
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


# ----- the public functions -----------------------------------------------------------------


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-D convolution (cross-correlation), as ``torch.nn.functional.conv3d``.

    input (N, C_in, D, H, W) or unbatched (C_in, D, H, W); weight (C_out, C_in/groups, kD, kH,
    kW); bias (C_out,) or None. ``stride``, ``padding``, ``dilation``: ints or (d, h, w)
    triples; ``padding`` may also be ``"valid"`` (none) or ``"same"`` (output size = input
    size, stride 1 only; an even effective kernel puts the extra zero after the last voxel,
    as PyTorch). Output sizes: ``conv3d_output_size``.
    """
    op = "conv3d"
    x, weight, bias, unbatched = _tensors(op, input, weight, bias, "(C_out, C_in/groups, kD, "
                                          "kH, kW)")
    C_out, C_in_g, *kernel = weight.shape
    groups = _groups(op, groups, x.shape[1], C_out, "out_channels")
    if x.shape[1] != C_in_g * groups:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight {weight.shape} with "
                         f"groups={groups} expects {C_in_g * groups}; input shape {x.shape}")
    _check_bias(op, bias, C_out, weight)
    stride = triple(op, "stride", stride, minimum=1)
    dilation = triple(op, "dilation", dilation, minimum=1)
    pad_extra = (0, 0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0, 0)
        elif padding == "same":
            if stride != (1, 1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride}); use an explicit padding")
            total = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
            padding, pad_extra = tuple(t // 2 for t in total), tuple(t % 2 for t in total)
        else:
            raise ValueError(f"{op}: padding must be 'same', 'valid', an int or a triple of "
                             f"ints, got {padding!r}")
    else:
        padding = triple(op, "padding", padding, minimum=0)
    size = x.shape[2:]
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + 2 * p + e for n, p, e in zip(size, padding, pad_extra))
    if any(s > n for s, n in zip(span, padded)):
        raise ValueError(f"{op}: kernel {tuple(kernel)} with dilation {dilation} spans {span}, "
                         f"larger than the padded input {padded} (input {size} with padding "
                         f"{padding}); input shape {x.shape}, weight shape {weight.shape}")
    hyper = dict(stride=stride, padding=padding, dilation=dilation, pad_extra=pad_extra)
    y = _grouped(Conv3d, x, weight, bias, groups, C_in_g, C_out // groups, hyper)
    return y.reshape(*y.shape[1:]) if unbatched else y


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """3-D transposed convolution, as ``torch.nn.functional.conv_transpose3d`` (note torch's
    argument order: groups before dilation).

    input (N, C_in, D, H, W) or unbatched (C_in, D, H, W); weight (C_in, C_out/groups, kD, kH,
    kW) (in-channels first, the transpose of conv3d's layout); bias (C_out,) or None. Each
    input voxel paints the kernel, scaled by itself, into the output at (id*s_D - p_D +
    kd*d_D, ...); overlaps add up. ``output_padding`` (< max(stride, dilation) per axis) adds
    voxels after the last one, to pick among the input sizes that a strided conv3d maps to
    the same size. With kernel 2 and stride 2 each voxel becomes a 2x2x2 block: the 3-D
    U-Net's up-convolution.
    """
    op = "conv_transpose3d"
    x, weight, bias, unbatched = _tensors(op, input, weight, bias, "(C_in, C_out/groups, kD, "
                                          "kH, kW)")
    C_in, C_out_g, *kernel = weight.shape
    groups = _groups(op, groups, C_in, C_out_g * groups, "out_channels")
    if x.shape[1] != C_in:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight {weight.shape} "
                         f"expects {C_in} (a transposed conv's weight is (C_in, C_out/groups, "
                         f"kD, kH, kW)); input shape {x.shape}")
    _check_bias(op, bias, C_out_g * groups, weight)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a triple of ints, got {padding!r}")
    stride = triple(op, "stride", stride, minimum=1)
    dilation = triple(op, "dilation", dilation, minimum=1)
    padding = triple(op, "padding", padding, minimum=0)
    output_padding = triple(op, "output_padding", output_padding, minimum=0)
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either "
                         f"stride {stride} or dilation {dilation}, in each axis")
    out = conv_transpose3d_output_size(x.shape[2:], tuple(kernel), stride, padding,
                                       output_padding, dilation)
    if min(out) < 1:
        raise ValueError(f"{op}: output size would be {out} for input shape {x.shape} and "
                         f"weight shape {weight.shape} with stride {stride}, padding {padding}, "
                         f"output_padding {output_padding}, dilation {dilation}: the padding "
                         f"crops away everything")
    hyper = dict(stride=stride, padding=padding, output_padding=output_padding,
                 dilation=dilation)
    y = _grouped(ConvTranspose3d, x, weight, bias, groups, C_in // groups, C_out_g, hyper)
    return y.reshape(*y.shape[1:]) if unbatched else y


def _grouped(fn, x, weight, bias, groups, c_in, c_out, hyper):
    """fn applied per group, to input channels g*c_in:(g+1)*c_in, the weight's g-th block of
    rows (its first axis) and bias[g*c_out:(g+1)*c_out]; the outputs concatenated."""
    if groups == 1:
        return fn.apply(*((x, weight) if bias is None else (x, weight, bias)), **hyper)
    rows = weight.shape[0] // groups
    outputs = []
    for g in range(groups):
        inputs = [x[:, g * c_in:(g + 1) * c_in], weight[g * rows:(g + 1) * rows]]
        if bias is not None:
            inputs.append(bias[g * c_out:(g + 1) * c_out])
        outputs.append(fn.apply(*inputs, **hyper))
    return cat(outputs, dim=1)


# ----- argument checks ----------------------------------------------------------------------


def _tensors(op, x, weight, bias, weight_layout):
    """Lift to Tensors and check rank and dtype (an unbatched (C, D, H, W) input gets a batch
    axis); errors name the offending shape."""
    x, weight = Tensor._lift(x), Tensor._lift(weight)
    bias = None if bias is None else Tensor._lift(bias)
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: {name} has dtype {t.dtype}; convolutions need float32 or "
                            f"float64 (convert with .astype(np.float32))")
    if x.ndim not in (4, 5):
        raise ValueError(f"{op}: input must be 5-D (N, C, D, H, W) or unbatched 4-D "
                         f"(C, D, H, W), got shape {x.shape}")
    if weight.ndim != 5:
        raise ValueError(f"{op}: weight must be 5-D {weight_layout}, got shape {weight.shape}")
    unbatched = x.ndim == 4
    return (x.reshape(1, *x.shape) if unbatched else x), weight, bias, unbatched


def _groups(op, groups, channels_in, channels_out, out_name):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if channels_in % groups or channels_out % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels "
                         f"({channels_in}) and the {out_name} ({channels_out})")
    return int(groups)


def _check_bias(op, bias, C_out, weight):
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},) to match weight "
                         f"{weight.shape}, got {bias.shape}")


__all__ = [
    "Conv3d", "ConvTranspose3d", "conv3d", "conv_transpose3d",
    "conv3d_output_size", "conv_transpose3d_output_size",
]
