"""Convolution's shapes: the output-size formulas, and the checks that name the shapes.

``ops/conv.py`` holds the two Functions (the adjoint pair); this file holds what a reader
checks against a shape trace: how big the output is, and what must divide what when the
channels are split into ``groups``.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .pairs import batched, pair


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


def same_padding(op, kernel_size, stride, dilation):
    """padding="same": ``(padding, pad_extra)`` so that the output keeps the input's size.

    The kernel's span ``d (k - 1) + 1`` needs ``d (k - 1)`` zeros in all; half go on each
    side, and an odd total puts the extra zero at the bottom/right, as PyTorch does.
    """
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride}); use an explicit padding")
    total = tuple(d * (k - 1) for k, d in zip(kernel_size, dilation))
    return (total[0] // 2, total[1] // 2), (total[0] % 2, total[1] % 2)


def conv_inputs(op, x, weight, bias, groups, weight_layout):
    """Lift to Tensors, add a batch dim to a (C, H, W) input, check ranks, dtypes and
    ``groups``: returns ``(x, weight, bias, groups, unbatched)``."""
    x, unbatched = batched(op, _tensor(x), "(N, C_in, H, W)")
    weight = _tensor(weight)
    bias = None if bias is None else _tensor(bias)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D {weight_layout}, got shape {weight.shape}")
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{op}: {name} has dtype {t.dtype}; convolutions need float32 or float64 "
                f"(convert with .astype(np.float32))"
            )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if min(x.shape[1:]) < 1:
        raise ValueError(f"{op}: only the batch dimension may be empty, got input shape "
                         f"{x.shape}")
    return x, weight, bias, int(groups), unbatched


def _tensor(a):
    return a if isinstance(a, Tensor) else Tensor(a)


def check_channels(op, x, weight, groups, bias, transposed):
    """Channels and groups: each of the ``groups`` groups maps C_in / groups input channels to
    C_out / groups outputs, so both must divide; returns C_out."""
    C_in = x.shape[1]
    if transposed:  # weight (C_in, C_out / groups, kH, kW)
        rows, C_out = weight.shape[0], weight.shape[1] * groups
        if rows != C_in or C_in % groups:
            raise ValueError(
                f"{op}: input has {C_in} channels but weight {weight.shape} expects {rows} "
                f"(a transposed conv's weight is (C_in, C_out / groups, kH, kW)), and both "
                f"must be divisible by groups={groups}; input shape {x.shape}")
    else:  # weight (C_out, C_in / groups, kH, kW)
        C_out = weight.shape[0]
        if weight.shape[1] * groups != C_in or C_out % groups:
            raise ValueError(
                f"{op}: input has {C_in} channels but weight {weight.shape} with "
                f"groups={groups} expects {weight.shape[1] * groups} (weight is (C_out, "
                f"C_in / groups, kH, kW), and C_out = {C_out} must be divisible by groups); "
                f"input shape {x.shape}")
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(
            f"{op}: bias must have shape ({C_out},) to match weight {weight.shape} with "
            f"groups={groups}, got {bias.shape}"
        )
    return C_out
