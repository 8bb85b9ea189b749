"""ReLU, fast: one pass, one loop, shared out to the cores.

NumPy's ``maximum`` runs on one core, and a mask then a multiply is two passes over memory.
Here each worker takes blocks of the flattened array and writes its output in the same loop
that reads the input. Small arrays stay on the calling thread: waking a worker costs more.

``relu_backward_sum`` is the backward of a conv whose ReLU was fused into it
(``tinyunet.ops.conv_relu``): the masked gradient and, in the same pass, its sum over
(n, h, w), which is the conv's bias gradient.
"""

from __future__ import annotations

import numpy as np

from ...threads import parallel_for
from .layout import kernel

_BLOCK = 1 << 16  # elements per unit of work: 256 KB of float32, a quarter of L2


@kernel()
def _relu(x, y, lo, hi):
    zero = np.zeros(1, y.dtype)[0]  # in the array's dtype: a plain 0 would widen to float64
    for i in range(lo, hi):
        v = x[i]
        y[i] = zero if v <= zero else v  # NaN stays NaN; -0.0 becomes +0.0, as np.maximum


@kernel()
def _relu_backward(grad, y, out, lo, hi):
    zero = np.zeros(1, out.dtype)[0]
    for i in range(lo, hi):
        g = grad[i]  # loaded either way, so that the select below vectorises
        out[i] = zero if y[i] <= zero else g


def _shared_out(size, loop):
    """Run loop(lo, hi) over range(size) in _BLOCK pieces, on every worker."""
    def work(mine):
        for k in mine:
            loop(k * _BLOCK, min(size, (k + 1) * _BLOCK))

    parallel_for(work, range(-(-size // _BLOCK)))


def _contiguous(a):
    return a if a.flags.c_contiguous else a.copy()  # (np.ascontiguousarray makes 0-d 1-d)


def relu(x):
    x = _contiguous(x)
    y = np.empty_like(x)
    xf, yf = x.reshape(-1), y.reshape(-1)
    _shared_out(x.size, lambda lo, hi: _relu(xf, yf, lo, hi))
    return y


def relu_backward(grad, y):
    grad, y = _contiguous(grad), _contiguous(y)
    out = np.empty_like(grad)
    gf, yf, of = grad.reshape(-1), y.reshape(-1), out.reshape(-1)
    _shared_out(grad.size, lambda lo, hi: _relu_backward(gf, yf, of, lo, hi))
    return out


# Reorder the float sums, so that they vectorise (NaN and inf still propagate).
_SUM = {"reassoc"}


@kernel(fastmath=_SUM)
def _relu_backward_planes(grad, y, out, sums, lo, hi):
    """For each plane i in lo:hi of the (planes, pixels) views: out[i] = relu_backward(grad[i],
    y[i]) and sums[i] = the sum of out[i]. ``out`` may be ``grad`` itself: that case has a
    loop of its own, on the two arrays, since a loop that writes one array while it reads
    another that is the same memory is not vectorised (LLVM checks that they do not overlap,
    and they do): 10x slower."""
    zero = np.zeros(1, out.dtype)[0]
    in_place = out.ctypes.data == grad.ctypes.data
    for i in range(lo, hi):
        g, v, o = grad[i], y[i], out[i]
        total = zero
        if in_place:
            for j in range(g.size):
                d = zero if v[j] <= zero else g[j]
                g[j] = d
                total += d
        else:
            for j in range(g.size):
                d = zero if v[j] <= zero else g[j]
                o[j] = d
                total += d
        sums[i] = total


def relu_backward_sum(grad, y, out=None):
    """(relu_backward(grad, y), its sum over (n, h, w)) for (N, C, H, W) arrays, in one pass.

    Each (n, c) plane is summed on its own, and the planes' sums then over n in a fixed
    order: the same bits whichever worker took which plane. ``out`` (C-contiguous, grad's
    shape and dtype) receives the result instead of a new array; it may be grad itself (each
    element is read before it is written)."""
    grad, y = _contiguous(grad), _contiguous(y)
    N, C = grad.shape[:2]
    out = np.empty_like(grad) if out is None else out
    sums = np.empty(N * C, dtype=grad.dtype)
    planes = [a.reshape(N * C, -1) for a in (grad, y, out)]
    step = max(1, _BLOCK // max(1, planes[0].shape[1]))  # planes per unit of work

    def work(mine):
        for k in mine:
            _relu_backward_planes(*planes, sums, k, min(N * C, k + step))

    parallel_for(work, range(0, N * C, step))
    return out, sums.reshape(N, C).sum(axis=0)
