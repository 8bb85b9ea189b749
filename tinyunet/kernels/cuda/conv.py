"""Convolution on the GPU: im2col / col2im as CUDA kernels, the GEMM by CuPy (cuBLAS).

The same plan as ``tinyunet.kernels.numba_cpu.conv`` (read it first), batched over samples::

    cols[n, (ci, kh, kw), (oh, ow)] = x[n, ci, oh*s - p + kh*d, ow*s - p + kw*d]    (0 outside)
    y[n] = W (C_out, K) @ cols[n] (K, P)                       one batched matrix multiply

``_im2col`` runs one thread per element of ``cols``. The transposed convolution computes
``cols[n] = W^T @ x[n]`` and then ``_col2im`` folds the columns back into the image. On a CPU
col2im scatter-adds; here that would make threads collide on the same output pixel, so
``_col2im`` is written the other way round: *one thread per output pixel* gathers the few
column entries that land on it. No atomics, no races, and the sum is always taken in the same
order, so results are bit-for-bit repeatable.

``xp`` is the array module of the inputs: CuPy on a GPU (``xp.matmul`` is cuBLAS) and NumPy
under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where the tests run these kernels
on the CPU. The columns of a whole batch can be large (C_in k_H k_W x H_out W_out per sample),
so samples are processed in chunks whose columns fit in ``COLS_BUDGET`` bytes.
"""

from __future__ import annotations

from numba import cuda

from ...backend import get_array_module
from ._launch import launch

COLS_BUDGET = 256 * 2**20  # bytes of im2col columns per chunk of samples


@cuda.jit(cache=True)
def _im2col(x, kH, kW, sh, sw, ph, pw, dh, dw, W_out, cols):
    """cols (n, C*kH*kW, H_out*W_out) from x (n, C, H, W): one thread per element of cols."""
    _, _, H, W = x.shape
    N, K, P = cols.shape
    for item in range(cuda.grid(1), N * K * P, cuda.gridsize(1)):
        n, r, p = item // (K * P), (item // P) % K, item % P
        c, kh, kw = r // (kH * kW), (r // kW) % kH, r % kW
        ih = (p // W_out) * sh - ph + kh * dh
        iw = (p % W_out) * sw - pw + kw * dw
        if 0 <= ih < H and 0 <= iw < W:
            cols[n, r, p] = x[n, c, ih, iw]
        else:
            cols[n, r, p] = 0.0  # zero padding


@cuda.jit(cache=True)
def _col2im(cols, b, kH, kW, sh, sw, ph, pw, dh, dw, H_in, W_in, y):
    """y (n, C, H_out, W_out) = b + fold of cols (n, C*kH*kW, H_in*W_in): im2col's adjoint.

    Column (c, kh, kw), position (ih, iw) lands on output row oh = ih*sh - ph + kh*dh. Read
    backwards: for output (oh, ow) and kernel tap (kh, kw) the source is ih = (oh + ph -
    kh*dh) / sh, when that is a whole number inside [0, H_in) (likewise iw).
    """
    N, C, H_out, W_out = y.shape
    for item in range(cuda.grid(1), N * C * H_out * W_out, cuda.gridsize(1)):
        n, c = item // (C * H_out * W_out), (item // (H_out * W_out)) % C
        oh, ow = (item // W_out) % H_out, item % W_out
        total = b[c]
        for kh in range(kH):
            th = oh + ph - kh * dh  # = ih * sh if this tap reaches (oh, .)
            if th < 0 or th % sh != 0 or th // sh >= H_in:
                continue
            for kw in range(kW):
                tw = ow + pw - kw * dw
                if tw < 0 or tw % sw != 0 or tw // sw >= W_in:
                    continue
                total += cols[n, (c * kH + kh) * kW + kw, (th // sh) * W_in + tw // sw]
        y[n, c, oh, ow] = total


def _chunks(N, bytes_per_sample):
    """(start, stop) ranges over the batch whose columns fit in COLS_BUDGET bytes."""
    step = max(1, COLS_BUDGET // max(1, bytes_per_sample))
    return [(n, min(n + step, N)) for n in range(0, N, step)]


def _is_pointwise(kH, kW, stride, padding):
    """A 1x1 kernel with stride 1 and no padding: the columns are the input itself."""
    return kH == 1 and kW == 1 and stride == (1, 1) and padding == (0, 0)


def _columns(xp, x, kH, kW, stride, padding, dilation, H_out, W_out):
    """im2col of a chunk of samples x (n, C, H, W) -> (n, C*kH*kW, H_out*W_out)."""
    n, C = x.shape[:2]
    if _is_pointwise(kH, kW, stride, padding) and x.shape[2:] == (H_out, W_out):
        return x.reshape(n, C, H_out * W_out)
    cols = xp.empty((n, C * kH * kW, H_out * W_out), dtype=x.dtype)
    launch(_im2col, cols.size, x, kH, kW, *stride, *padding, *dilation, W_out, cols)
    return cols


def conv2d(x, w, b, stride, padding, dilation):
    """y = conv2d(x, w) + b, x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None."""
    xp = get_array_module(x)
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    H_out = (H + 2 * ph - dh * (kH - 1) - 1) // sh + 1
    W_out = (W + 2 * pw - dw * (kW - 1) - 1) // sw + 1
    K, P = C_in * kH * kW, H_out * W_out

    w_mat = w.reshape(C_out, K)
    y = xp.empty((N, C_out, P), dtype=x.dtype)
    for n0, n1 in _chunks(N, K * P * x.itemsize):
        cols = _columns(xp, x[n0:n1], kH, kW, stride, padding, dilation, H_out, W_out)
        y[n0:n1] = xp.matmul(w_mat, cols)  # (C_out, K) @ (n, K, P): one batched GEMM
    if b is not None:
        y += b.reshape(1, C_out, 1)
    return y.reshape(N, C_out, H_out, W_out)


def conv_transpose2d(x, w, b, stride, padding, output_padding, dilation):
    """Transposed conv, x (N, C_in, H, W), w (C_in, C_out, kH, kW), b (C_out,) or None.

    Output size H_out = (H - 1)*s - 2p + d*(kH - 1) + output_padding + 1 (likewise W_out).
    """
    xp = get_array_module(x)
    N, C_in, H, W = x.shape
    _, C_out, kH, kW = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    H_out = (H - 1) * sh - 2 * ph + dh * (kH - 1) + oph + 1
    W_out = (W - 1) * sw - 2 * pw + dw * (kW - 1) + opw + 1
    K, P = C_out * kH * kW, H * W

    w_t = w.reshape(C_in, K).T  # (K, C_in)
    bias = xp.zeros(C_out, dtype=x.dtype) if b is None else b
    y = xp.empty((N, C_out, H_out, W_out), dtype=x.dtype)
    for n0, n1 in _chunks(N, K * P * x.itemsize):
        cols = xp.matmul(w_t, x[n0:n1].reshape(n1 - n0, C_in, P))  # (n, K, P)
        launch(_col2im, (n1 - n0) * C_out * H_out * W_out,
               cols, bias, kH, kW, sh, sw, ph, pw, dh, dw, H, W, y[n0:n1])
    return y


def conv2d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv2d(x, w): sum_n grad_y[n] (C_out, P) @ cols[n].T (P, K).

    P is grad_y's own spatial size, which may be smaller than conv2d's natural output.
    """
    xp = get_array_module(x)
    N, C_in = x.shape[:2]
    _, C_out, H_out, W_out = grad_y.shape
    kH, kW = kernel_size
    K, P = C_in * kH * kW, H_out * W_out

    grad_w = xp.zeros((C_out, K), dtype=x.dtype)
    for n0, n1 in _chunks(N, K * P * x.itemsize):
        cols = _columns(xp, x[n0:n1], kH, kW, stride, padding, dilation, H_out, W_out)
        g = grad_y[n0:n1].reshape(n1 - n0, C_out, P)
        grad_w += xp.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0)  # batched, then summed
    return grad_w.reshape(C_out, C_in, kH, kW)
