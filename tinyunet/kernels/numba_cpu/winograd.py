"""The 3x3 convolution by Winograd's minimal filtering, F(2x2, 3x3): 2.25x fewer multiplies.

A 3x3 conv computes each 2x2 block of outputs from the 4x4 block of inputs under it, 36
multiply-adds per input channel. Winograd (via Lavin & Gray, 2015) gets the same four numbers
from 16 multiplies, by moving both tiles into a basis where the convolution is elementwise::

    Y = A^T [ (G g G^T) * (B^T d B) ] A          d: 4x4 input tile, g: 3x3 kernel, *: elementwise

    B^T = | 1  0 -1  0 |     G = |  1    0    0  |     A^T = | 1  1  1  0 |
          | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
          | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
          | 0  1  0 -1 |         |  0    0    1  |

With channels the elementwise product becomes a sum over input channels, so each of the 16
positions e = (xi, nu) of the transformed tile is one matrix product:

    M[e] (C_out, tiles) = U[e] (C_out, C_in) @ V[e] (C_in, tiles)

U = G g G^T (the weights, transformed once per call), V = B^T d B (every input tile), and
the output transform A^T M A turns each tile's 16 numbers back into its 2x2 outputs. The 16
products run in BLAS at 16*C_out*C_in multiply-adds per tile where the direct conv does
36*C_out*C_in; the transforms are additions only (B and A hold 0 and +-1).

The steps, each a function below, for one block of tiles at a time (``tile``): ``transform``
(V), ``product`` (M), ``inverse`` (y, with the bias and, fused, the ReLU). A block is small
enough that V and M stay in the core's cache between the steps.

The answer is the same sum, rounded differently: the transforms add and subtract inputs
before the multiply. In float32 the results agree with the direct conv to a few units in
the last place of the largest terms; the tests hold them to the reference kernel. Sums of
infinities are not associative, though (inf - inf = NaN where the direct conv would give
inf), so conv.py recomputes a non-finite output by im2col.

Why not F(4x4, 3x3), 36 multiplies per 4x4 outputs where F(2x2, 3x3) takes 64: its transforms
multiply by up to 5 and 8, and in float32 its error, measured on every conv of the U-Net
against a float64 direct conv, is 5-15x PyTorch's own float32 error on the same data
(``python -m benchmarks.winograd_error``), with each set of points we tried.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...threads import parallel_for
from .layout import ITEMS_PER_WORKER, kernel, pad, side_by_side, workspace

# The 16 products are done about this many tiles at a time: several small images side by side,
# or a band of rows of a large one. Measured (2 cores, batch 8 of the U-Net's layers): 128
# tiles is up to 1.4x slower than 512-1024 on the 32- and 64-channel layers, 2048 is slower
# again, and 512x512 inference (bands of one image) prefers 128-512.
_TILES = 512

# Elements between the 16 tile planes of a workspace (see layout.workspace): one cache line.
_SKEW = 16

# Kernels (C_out * C_in) that one thread transforms faster than two can be woken to.
_SMALL_WEIGHTS = 64 * 64


def fits(kH, kW, stride, dilation):
    """F(2x2, 3x3) is written for what the U-Net uses most: 3x3, stride 1, no dilation."""
    return (kH, kW) == (3, 3) and stride == (1, 1) and dilation == (1, 1)


# ----- the weights: U = G g G^T -------------------------------------------------------------


def transform_weight(w, flip=False):
    """U[e] = (G g G^T)[e] for the 3x3 kernel g of every (C_out, C_in) pair: (16, C_out, C_in).

    ``flip``: w is a conv_transpose2d weight (C_in, C_out, 3, 3), to be read as the conv2d
    weight it equals at stride 1, g[co, ci] = w[ci, co] turned 180 degrees (conv._flipped),
    without copying it. The output channels are shared out to the cores.
    """
    C_out, C_in = (w.shape[1], w.shape[0]) if flip else w.shape[:2]
    U = _skewed((16, C_out * C_in), w.dtype)
    if C_out * C_in <= _SMALL_WEIGHTS:  # a few microseconds: not worth waking a worker
        _transform_weight(w, flip, 0, C_out, U)
        return U.reshape(16, C_out, C_in)

    def work(mine):
        for lo, hi in mine:
            _transform_weight(w, flip, lo, hi, U)

    parallel_for(work, [(lo, min(C_out, lo + 16)) for lo in range(0, C_out, 16)])
    return U.reshape(16, C_out, C_in)


def _skewed(shape, dtype):
    """A new (rows, n) array whose rows start _SKEW elements apart from a multiple of n: see
    layout.workspace on why 16 rows read at the same column must not be 4 KB apart."""
    rows, n = shape
    return np.empty((rows, n + _SKEW), dtype=dtype)[:, :n]


@njit(inline="always")
def _G(g0, g1, g2, half):
    """G applied to three numbers (a column or a row of a kernel): G's four rows."""
    return g0, (g0 + g1 + g2) * half, (g0 - g1 + g2) * half, g2


@kernel()
def _transform_weight(w, flip, lo, hi, U):
    """U[:, co*C_in + ci] = G g G^T for the kernels g of output channels lo:hi (see
    transform_weight on ``flip``)."""
    C_in = w.shape[0] if flip else w.shape[1]
    half = np.full(1, 0.5, U.dtype)[0]  # in the arrays' dtype: a bare 0.5 would be float64
    g = np.empty((3, 3), dtype=w.dtype)
    for co in range(lo, hi):
        for ci in range(C_in):
            for i in range(3):
                for j in range(3):
                    g[i, j] = w[ci, co, 2 - i, 2 - j] if flip else w[co, ci, i, j]
            k = co * C_in + ci
            # t = G g, column by column of g
            a0, a1, a2, a3 = _G(g[0, 0], g[1, 0], g[2, 0], half)
            b0, b1, b2, b3 = _G(g[0, 1], g[1, 1], g[2, 1], half)
            c0, c1, c2, c3 = _G(g[0, 2], g[1, 2], g[2, 2], half)
            # U = t G^T, row by row of t
            U[0, k], U[1, k], U[2, k], U[3, k] = _G(a0, b0, c0, half)
            U[4, k], U[5, k], U[6, k], U[7, k] = _G(a1, b1, c1, half)
            U[8, k], U[9, k], U[10, k], U[11, k] = _G(a2, b2, c2, half)
            U[12, k], U[13, k], U[14, k], U[15, k] = _G(a3, b3, c3, half)


# ----- the three steps, one block of tiles at a time ----------------------------------------


def tile(N, H_out, W_out, per_worker=ITEMS_PER_WORKER):
    """The blocks of tiles that go through the steps together, as work items: lists of
    (sample, first tile row, end tile row) pieces whose tiles fill one set of 16 products of
    about _TILES columns. Several whole samples when the images are small (``per_worker``:
    see layout.side_by_side), one band of tile rows of one sample when they are large (which
    also shares a single big image out to the cores)."""
    Th, Tw, _ = _tiles(H_out, W_out)
    rows = max(1, _TILES // Tw)
    if rows >= Th:
        return [[(n, 0, Th) for n in run]
                for run in side_by_side(N, Th * Tw, _TILES, per_worker)]
    return [[(n, t, min(Th, t + rows))] for n in range(N) for t in range(0, Th, rows)]


def _tiles(H_out, W_out):
    """(Th, Tw, Wp): 2x2 output tiles down and across, and the padded input width they read
    (4x4 tiles overlapping by 2)."""
    Th, Tw = -(-H_out // 2), -(-W_out // 2)
    return Th, Tw, 2 * Tw + 2


def _placed(block, Tw):
    """The pieces of a block with the column where each one's tiles start in the block's
    matrices, [(n, t0, t1, col)]; the matrices' width; and the tallest piece's tile rows."""
    placed, col = [], 0
    for n, t0, t1 in block:
        placed.append((n, t0, t1, col))
        col += (t1 - t0) * Tw
    return placed, col, max(t1 - t0 for _, t0, t1 in block)


@kernel()
def transform(xp, Th, Tw, V, col0):
    """V[:, c, col0 + th*Tw + tw] = B^T d B for the 4x4 tile d of xp (C, Hp, Wp) at rows
    2*th.., columns 2*tw.. (Hp >= 2*Th + 2, Wp >= 2*Tw + 2).

    B^T d combines four input rows into four rows t0..t3 (whole rows at a time: vector
    adds); (.) B then combines each tile's four columns of them.
    """
    C = xp.shape[0]
    Wp = xp.shape[2]
    t = np.empty((4, Wp), dtype=xp.dtype)
    for c in range(C):
        for th in range(Th):
            r0, r1, r2, r3 = xp[c, 2 * th], xp[c, 2 * th + 1], xp[c, 2 * th + 2], xp[c, 2 * th + 3]
            t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
            for j in range(Wp):
                t0[j] = r0[j] - r2[j]
                t1[j] = r1[j] + r2[j]
                t2[j] = r2[j] - r1[j]
                t3[j] = r1[j] - r3[j]
            col = col0 + th * Tw
            for i in range(4):
                ti = t[i]
                v0, v1 = V[4 * i, c, col:], V[4 * i + 1, c, col:]
                v2, v3 = V[4 * i + 2, c, col:], V[4 * i + 3, c, col:]
                for tw in range(Tw):
                    a, b = ti[2 * tw], ti[2 * tw + 1]
                    cc, d = ti[2 * tw + 2], ti[2 * tw + 3]
                    v0[tw] = a - cc
                    v1[tw] = b + cc
                    v2[tw] = cc - b
                    v3[tw] = b - d


def product(U, V, M):
    """M[e] = U[e] @ V[e] for the 16 positions e of the transformed tiles: the reference's
    sum over input channels, w[co, ci] * x[ci], done in the transformed basis as 16 BLAS
    products (C_out, C_in) @ (C_in, tiles)."""
    np.matmul(U, V, out=M)


@kernel()
def inverse(M, col0, t0, t1, Tw, b, y, relu):
    """y[co, 2*t0:2*t1] = b + A^T m A for each tile m = M[:, co, col0 + (th - t0)*Tw + tw] of
    tile rows t0:t1 of one sample y (C_out, H_out, W_out), each 2x2 block cut where H_out or
    W_out is odd; then max(y, 0) if ``relu``. Returns whether those rows of y were all finite
    before the ReLU (the reference's conv2d, plus b, is what y holds)."""
    C_out, H_out, W_out = y.shape
    Th = t1 - t0
    s = np.empty((2, 4, Tw), dtype=y.dtype)
    # the ReLU as max(y, floor), a select rather than a branch: floor -inf leaves y as it is
    floor = np.full(1, 0.0 if relu else -np.inf, y.dtype)[0]
    finite = True
    for co in range(C_out):
        for th in range(Th):
            col = col0 + th * Tw
            for j in range(4):  # A^T m: rows 0 + 1 + 2 and 1 - 2 - 3 of the tile
                m0, m1 = M[j, co, col:col + Tw], M[4 + j, co, col:col + Tw]
                m2, m3 = M[8 + j, co, col:col + Tw], M[12 + j, co, col:col + Tw]
                s0, s1 = s[0, j], s[1, j]
                for tw in range(Tw):
                    s0[tw] = m0[tw] + m1[tw] + m2[tw]
                    s1[tw] = m1[tw] - m2[tw] - m3[tw]
            for i in range(2):  # (.) A: the same two combinations of the columns
                oh = 2 * (t0 + th) + i
                if oh >= H_out:
                    break
                row = y[co, oh]
                a0, a1, a2, a3 = s[i, 0], s[i, 1], s[i, 2], s[i, 3]
                for tw in range(W_out // 2):
                    row[2 * tw] = b[co] + a0[tw] + a1[tw] + a2[tw]
                    row[2 * tw + 1] = b[co] + a1[tw] - a2[tw] - a3[tw]
                if W_out % 2:
                    tw = W_out // 2
                    row[2 * tw] = b[co] + a0[tw] + a1[tw] + a2[tw]
                for j in range(W_out):  # NaN stays NaN, -0.0 becomes +0.0, as np.maximum
                    v = row[j]
                    finite &= v - v == 0  # false for inf and NaN
                    row[j] = floor if v <= floor else v
    return finite


def conv(x, w, b, top_left, H_out, W_out, relu=False, flip=False):
    """conv2d by F(2x2, 3x3), x zero-padded at top_left (and at the bottom and right as far as
    the tiles reach), block by block of tiles: transform, product, inverse (and max(y, 0)
    if ``relu``). ``flip``: w is a transposed conv's weight (see transform_weight). Returns
    y and whether all of it was finite."""
    N, C_in = x.shape[:2]
    C_out = w.shape[1] if flip else w.shape[0]
    top, left = top_left
    Th, Tw, Wp = _tiles(H_out, W_out)
    U = transform_weight(w, flip)
    bias = np.zeros(C_out, dtype=x.dtype) if b is None else b
    y = np.empty((N, C_out, H_out, W_out), dtype=x.dtype)

    def work(mine):
        finite = True
        for block in mine:
            placed, m, rows = _placed(block, Tw)
            xp = workspace("padded", (C_in, 2 * rows + 2, Wp), x.dtype)
            V = workspace("winograd_in", (16, C_in, m), x.dtype, _SKEW)
            M = workspace("winograd_out", (16, C_out, m), x.dtype, _SKEW)
            for n, t0, t1, col in placed:
                pad(x[n], 2 * t0, top, left, xp, 2 * (t1 - t0) + 2)
                transform(xp, t1 - t0, Tw, V, col)
            product(U, V, M)
            for n, t0, t1, col in placed:
                finite &= inverse(M, col, t0, t1, Tw, bias, y[n], relu)
        return finite

    return y, all(parallel_for(work, tile(N, H_out, W_out)))


# ----- the weight gradient ------------------------------------------------------------------


@kernel()
def transform_grad(gp, Th, Tw, D, col0):
    """D[:, c, col0 + th*Tw + tw] = A g A^T for the 2x2 tile g of gp (C, 2*Th, 2*Tw) at rows
    2*th.., columns 2*tw..: A's rows g0, g0 + g1, g0 - g1, -g1, on the two rows (whole rows
    at a time), then on each tile's two columns. (grad_y's transform in grad_weight.)"""
    C = gp.shape[0]
    t = np.empty((4, 2 * Tw), dtype=gp.dtype)
    for c in range(C):
        for th in range(Th):
            r0, r1 = gp[c, 2 * th], gp[c, 2 * th + 1]
            t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
            for j in range(2 * Tw):
                t0[j] = r0[j]
                t1[j] = r0[j] + r1[j]
                t2[j] = r0[j] - r1[j]
                t3[j] = -r1[j]
            col = col0 + th * Tw
            for i in range(4):
                ti = t[i]
                d0, d1 = D[4 * i, c, col:], D[4 * i + 1, c, col:]
                d2, d3 = D[4 * i + 2, c, col:], D[4 * i + 3, c, col:]
                for tw in range(Tw):
                    u, v = ti[2 * tw], ti[2 * tw + 1]
                    d0[tw] = u
                    d1[tw] = u + v
                    d2[tw] = u - v
                    d3[tw] = -v


def inverse_weight_grad(Mw, grad_w):
    """grad_w (C_out, C_in, 3, 3) += G^T m G for each 4x4 m = Mw[:, co, ci]."""
    C_out, C_in = grad_w.shape[:2]
    taps = _skewed((9, C_out * C_in), grad_w.dtype)
    _inverse_weight_grad(Mw.reshape(16, C_out * C_in), taps)
    grad_w += taps.reshape(3, 3, C_out, C_in).transpose(2, 3, 0, 1)


@njit(inline="always")
def _GT(m0, m1, m2, m3, half):
    """G^T applied to four numbers: G^T's three rows (the adjoint of _G)."""
    return m0 + (m1 + m2) * half, (m1 - m2) * half, (m1 + m2) * half + m3


@kernel()
def _inverse_weight_grad(M, taps):
    """taps[3*i + j, k] = (G^T m G)[i, j] for each 4x4 m = M[:, k] (M[4*i + j] is m[i, j])."""
    half = np.full(1, 0.5, taps.dtype)[0]
    for k in range(M.shape[1]):
        # t = G^T m, column by column of m
        a0, a1, a2 = _GT(M[0, k], M[4, k], M[8, k], M[12, k], half)
        b0, b1, b2 = _GT(M[1, k], M[5, k], M[9, k], M[13, k], half)
        c0, c1, c2 = _GT(M[2, k], M[6, k], M[10, k], M[14, k], half)
        d0, d1, d2 = _GT(M[3, k], M[7, k], M[11, k], M[15, k], half)
        # t G, row by row of t
        taps[0, k], taps[1, k], taps[2, k] = _GT(a0, b0, c0, d0, half)
        taps[3, k], taps[4, k], taps[5, k] = _GT(a1, b1, c1, d1, half)
        taps[6, k], taps[7, k], taps[8, k] = _GT(a2, b2, c2, d2, half)


def grad_weight(mine, x, grad_y, padding, grad_w):
    """grad_w += the weight gradient over the blocks of tiles ``mine`` (see tile), by
    F(2x2, 3x3) read backwards.

    The forward is linear in the transformed weight U = G g G^T, so its adjoint is

        dL/dg = G^T [ (A dY A^T) * (B^T d B) ] G        dY: a 2x2 tile of grad_y

    summed over tiles: the input tiles are transformed exactly as in the forward (V), grad_y's
    2x2 tiles by A (D), and the sum over tiles is again one matrix product per position e,
    Mw[e] (C_out, C_in) = D[e] (C_out, tiles) @ V[e].T (tiles, C_in).
    """
    C_in = x.shape[1]
    C_out, H_out, W_out = grad_y.shape[1:]
    Th, Tw, Wp = _tiles(H_out, W_out)
    Mw = _skewed((16, C_out * C_in), x.dtype).reshape(16, C_out, C_in)
    Mw[...] = 0
    term = np.empty((16, C_out, C_in), dtype=x.dtype)
    for block in mine:
        placed, m, rows = _placed(block, Tw)
        xp = workspace("padded", (C_in, 2 * rows + 2, Wp), x.dtype)
        gp = workspace("grad_y", (C_out, 2 * rows, 2 * Tw), x.dtype)
        V = workspace("winograd_in", (16, C_in, m), x.dtype, _SKEW)
        D = workspace("winograd_out", (16, C_out, m), x.dtype, _SKEW)
        for n, t0, t1, col in placed:
            pad(x[n], 2 * t0, padding[0], padding[1], xp, 2 * (t1 - t0) + 2)
            transform(xp, t1 - t0, Tw, V, col)
            pad(grad_y[n], 2 * t0, 0, 0, gp, 2 * (t1 - t0))  # zero past an odd edge
            transform_grad(gp, t1 - t0, Tw, D, col)
        Mw += np.matmul(D, V.transpose(0, 2, 1), out=term)
    inverse_weight_grad(Mw, grad_w)
