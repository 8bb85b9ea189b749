"""3-D convolution on the GPU: vol2col / col2vol as CUDA kernels, the GEMM by CuPy (cuBLAS).

The plan of ``cuda/conv.py`` (read it first) with a depth axis::

    cols[n, (ci, kd, kh, kw), (od, oh, ow)] = x[n, ci, od*s_D - p_D + kd*d_D,
                                                   oh*s_H - p_H + kh*d_H, ow*s_W - p_W + kw*d_W]
    y[n] = W (C_out, K) @ cols[n] (K, P)                         one batched matrix multiply

``_vol2col`` runs one thread per element of ``cols``. The transposed convolution computes
``cols[n] = W^T @ x[n]`` and ``_col2vol`` folds it back, *one thread per output voxel*
gathering the column entries that land on it: input position id = (od + p_D - kd*d_D) / s_D
when that is a whole number inside [0, D_in) (likewise h, w). No atomics, no races, a fixed
order of summation. Samples go in chunks whose columns fit in ``COLS_BUDGET`` bytes.
"""

from __future__ import annotations

from numba import cuda

from ...backend import get_array_module
from ._launch import launch
from .conv import _chunks


@cuda.jit(cache=True)
def _vol2col(x, kD, kH, kW, sd, sh, sw, pd, ph, pw, dd, dh, dw, H_out, W_out, cols):
    """cols (n, C*kD*kH*kW, D_out*H_out*W_out) from x (n, C, D, H, W): a thread per element."""
    _, _, D, H, W = x.shape
    N, K, P = cols.shape
    for item in range(cuda.grid(1), N * K * P, cuda.gridsize(1)):
        n, r, p = item // (K * P), (item // P) % K, item % P
        c, kd, kh, kw = r // (kD * kH * kW), (r // (kH * kW)) % kD, (r // kW) % kH, r % kW
        od, oh, ow = p // (H_out * W_out), (p // W_out) % H_out, p % W_out
        i_d = od * sd - pd + kd * dd
        i_h = oh * sh - ph + kh * dh
        i_w = ow * sw - pw + kw * dw
        if 0 <= i_d < D and 0 <= i_h < H and 0 <= i_w < W:
            cols[n, r, p] = x[n, c, i_d, i_h, i_w]
        else:
            cols[n, r, p] = 0.0  # zero padding


@cuda.jit(device=True)
def _source(o, p, k, d, s, size):
    """The input position whose tap k lands on output o, or -1: (o + p - k*d) / s if whole
    and inside [0, size)."""
    t = o + p - k * d
    if t < 0 or t % s != 0 or t // s >= size:
        return -1
    return t // s


@cuda.jit(cache=True)
def _col2vol(cols, b, kD, kH, kW, sd, sh, sw, pd, ph, pw, dd, dh, dw, D_in, H_in, W_in, y):
    """y (n, C, D_out, H_out, W_out) = b + the fold of cols (n, C*kD*kH*kW, D_in*H_in*W_in),
    vol2col's adjoint: a thread per output voxel gathers the entries that land on it."""
    N, C, D_out, H_out, W_out = y.shape
    for item in range(cuda.grid(1), N * C * D_out * H_out * W_out, cuda.gridsize(1)):
        n, c = item // (C * D_out * H_out * W_out), (item // (D_out * H_out * W_out)) % C
        od = (item // (H_out * W_out)) % D_out
        oh, ow = (item // W_out) % H_out, item % W_out
        total = b[c]
        for kd in range(kD):
            i_d = _source(od, pd, kd, dd, sd, D_in)
            if i_d < 0:
                continue
            for kh in range(kH):
                i_h = _source(oh, ph, kh, dh, sh, H_in)
                if i_h < 0:
                    continue
                for kw in range(kW):
                    i_w = _source(ow, pw, kw, dw, sw, W_in)
                    if i_w >= 0:
                        r = ((c * kD + kd) * kH + kh) * kW + kw
                        total += cols[n, r, (i_d * H_in + i_h) * W_in + i_w]
        y[n, c, od, oh, ow] = total


def _out_sizes(size, kernel, stride, padding, dilation):
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))


def _columns(xp, x, kernel, stride, padding, dilation, out):
    """vol2col of a chunk of samples x (n, C, D, H, W) -> (n, C*kD*kH*kW, D_out*H_out*W_out);
    for a 1x1x1 kernel, stride 1, no padding, the input itself."""
    n, C = x.shape[:2]
    P = out[0] * out[1] * out[2]
    if tuple(kernel) == (1, 1, 1) and stride == (1, 1, 1) and padding == (0, 0, 0) and \
            tuple(x.shape[2:]) == tuple(out):
        return x.reshape(n, C, P)
    cols = xp.empty((n, C * kernel[0] * kernel[1] * kernel[2], P), dtype=x.dtype)
    launch(_vol2col, cols.size, x, *kernel, *stride, *padding, *dilation, out[1], out[2], cols)
    return cols


def conv3d(x, w, b, stride, padding, dilation):
    """y = conv3d(x, w) + b; x (N, C_in, D, H, W), w (C_out, C_in, kD, kH, kW), b or None."""
    xp = get_array_module(x)
    N, C_in = x.shape[:2]
    C_out, _, *kernel = w.shape
    out = _out_sizes(x.shape[2:], kernel, stride, padding, dilation)
    K, P = w[0].size, out[0] * out[1] * out[2]
    w_mat = w.reshape(C_out, K)
    y = xp.empty((N, C_out, P), dtype=x.dtype)
    for n0, n1 in _chunks(N, K * P * x.itemsize):
        cols = _columns(xp, x[n0:n1], kernel, stride, padding, dilation, out)
        y[n0:n1] = xp.matmul(w_mat, cols)  # (C_out, K) @ (n, K, P): one batched GEMM
    if b is not None:
        y += b.reshape(1, C_out, 1)
    return y.reshape(N, C_out, *out)


def conv_transpose3d(x, w, b, stride, padding, output_padding, dilation):
    """Transposed conv; x (N, C_in, D, H, W), w (C_in, C_out, kD, kH, kW), b (C_out,) or None.

    Output size per axis: (size - 1)*s - 2p + d*(k - 1) + output_padding + 1.
    """
    xp = get_array_module(x)
    N, C_in, D, H, W = x.shape
    _, C_out, *kernel = w.shape
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, op, d in
                zip(x.shape[2:], kernel, stride, padding, output_padding, dilation))
    K, P = w[0].size, D * H * W
    w_t = w.reshape(C_in, K).T  # (K, C_in)
    bias = xp.zeros(C_out, dtype=x.dtype) if b is None else b
    y = xp.empty((N, C_out, *out), dtype=x.dtype)
    for n0, n1 in _chunks(N, K * P * x.itemsize):
        cols = xp.matmul(w_t, x[n0:n1].reshape(n1 - n0, C_in, P))  # (n, K, P)
        launch(_col2vol, y[n0:n1].size, cols, bias, *kernel, *stride, *padding, *dilation,
               D, H, W, y[n0:n1])
    return y


def conv3d_grad_weight(x, grad_y, kernel_size, stride, padding, dilation):
    """dL/dw for y = conv3d(x, w): sum_n grad_y[n] (C_out, P) @ cols[n].T (P, K), P being
    grad_y's own spatial size (which may be smaller than conv3d's natural output)."""
    xp = get_array_module(x)
    N, C_in = x.shape[:2]
    _, C_out, *out = grad_y.shape
    K, P = C_in * kernel_size[0] * kernel_size[1] * kernel_size[2], out[0] * out[1] * out[2]
    grad_w = xp.zeros((C_out, K), dtype=x.dtype)
    for n0, n1 in _chunks(N, K * P * x.itemsize):
        cols = _columns(xp, x[n0:n1], kernel_size, stride, padding, dilation, out)
        g = grad_y[n0:n1].reshape(n1 - n0, C_out, P)
        grad_w += xp.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0)  # batched, then summed
    return grad_w.reshape(C_out, C_in, *kernel_size)
