"""How exact is a Winograd conv in float32? Every 3x3 conv of the U-Net, against float64.

    python -m benchmarks.winograd_error

For each layer: a batch of 2 post-ReLU inputs (standard normal, clipped at 0) and a weight
drawn as PyTorch initialises it (uniform in +-1/sqrt(fan_in)); the truth is PyTorch's conv in
float64. The yardstick is PyTorch's own float32 conv of the same data: an algorithm is
acceptable where its float32 error is no worse than that. Errors are relative to the largest
output (max) and to the outputs' root mean square (rms).

Columns: torch float32; tinyunet's conv2d in float32 (Winograd F(2x2, 3x3) from 32 channels,
the direct kernel below); and F(2x2, 3x3) and F(4x4, 3x3) written out in NumPy (``einsum``
over tiles, float32 throughout), F(4x4, 3x3) with three sets of interpolation points.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

# name -> (points other than infinity, outputs per tile side m)
ALGORITHMS = {
    "F(2x2) points 0, 1, -1": ((0, 1, -1), 2),
    "F(4x4) points 0, 1, -1, 2, -2": ((0, 1, -1, 2, -2), 4),
    "F(4x4) points 0, 1, -1, 1/2, -2": ((0, 1, -1, Fraction(1, 2), -2), 4),
    "F(4x4) points 0, 1, -1, 1/2, -1/2": ((0, 1, -1, Fraction(1, 2), Fraction(-1, 2)), 4),
}


def matrices(points, m, r=3):
    """A^T (m, n), G (n, r), B^T (n, n) of Winograd's F(m, r) from the n - 1 finite points
    (and infinity), n = m + r - 1, by Toom-Cook: A^T and G from the points (G exactly, in
    fractions), B^T as the solution of sum_j A^T[i, j] G[j, k] B^T[j, l] = [l == i + k]."""
    n = m + r - 1
    pts = [Fraction(p) for p in points]
    AT, G = np.zeros((m, n)), np.zeros((n, r))
    for j, p in enumerate(pts):
        norm = np.prod([p - q for q in pts if q != p], dtype=object)
        AT[:, j] = [float(p**i) for i in range(m)]
        G[j] = [float(p**k / norm) for k in range(r)]
    AT[m - 1, n - 1] = G[n - 1, r - 1] = 1.0
    system = np.zeros((m * r * n, n * n))
    rhs = np.zeros(m * r * n)
    for row, (i, k, l) in enumerate(np.ndindex(m, r, n)):
        system[row, [j * n + l for j in range(n)]] = AT[i] * G[:, k]
        rhs[row] = float(l == i + k)
    BT = np.linalg.lstsq(system, rhs, rcond=None)[0].reshape(n, n)
    return AT, G, BT


def winograd_conv(x, w, AT, G, BT):
    """conv2d(x, w, padding=1) by Winograd, in x's dtype: Y = A^T [(G g G^T) * (B^T d B)] A."""
    dtype = x.dtype
    m, n = AT.shape
    N, C, H, W = x.shape
    Th, Tw = -(-H // m), -(-W // m)
    xp = np.zeros((N, C, Th * m + 2, Tw * m + 2), dtype)
    xp[:, :, 1:H + 1, 1:W + 1] = x
    AT, G, BT = (a.astype(dtype) for a in (AT, G, BT))
    U = np.einsum("ak,ockl,bl->aboc", G, w, G)
    rows = np.arange(Th)[:, None] * m + np.arange(n)
    cols = np.arange(Tw)[:, None] * m + np.arange(n)
    d = xp[:, :, rows[:, None, :, None], cols[None, :, None, :]]  # (N, C, Th, Tw, n, n)
    V = np.einsum("ai,ncthij,bj->abncth", BT, d, BT)
    M = np.einsum("abkc,abncth->abnkth", U, V)
    Y = np.einsum("ia,abnkth,jb->nkthij", AT, M, AT)
    return Y.transpose(0, 1, 2, 4, 3, 5).reshape(N, -1, Th * m, Tw * m)[:, :, :H, :W]


def _errors(y, truth):
    scale, rms = np.abs(truth).max(), np.sqrt(np.mean(truth**2))
    return (float(np.abs(y - truth).max() / scale),
            float(np.sqrt(np.mean((y - truth) ** 2)) / rms))


def measure(seed=0) -> list[dict]:
    """One row per 3x3 conv of the reference U-Net: {layer: name, column: (max, rms)}."""
    import torch

    import tinyunet.kernels.numba_cpu as fast

    from .models import reference_layers

    rng = np.random.default_rng(seed)
    rows = []
    built = {name: matrices(*spec) for name, spec in ALGORITHMS.items()}
    for layer in reference_layers(128):
        if layer.k != 3:
            continue
        x = np.maximum(rng.standard_normal((2, layer.c_in, layer.size, layer.size)), 0)
        bound = 1 / np.sqrt(layer.c_in * 9)
        w = rng.uniform(-bound, bound, (layer.c_out, layer.c_in, 3, 3))
        x32, w32 = x.astype(np.float32), w.astype(np.float32)
        truth = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                           padding=1).numpy()
        row = {"layer": layer.name,
               "torch float32": _errors(torch.nn.functional.conv2d(
                   torch.from_numpy(x32), torch.from_numpy(w32), padding=1).numpy(), truth),
               "tinyunet float32": _errors(fast.conv2d(x32, w32, None, (1, 1), (1, 1),
                                                       (1, 1)), truth)}
        for name, (AT, G, BT) in built.items():
            row[name] = _errors(winograd_conv(x32, w32, AT, G, BT), truth)
        rows.append(row)
    return rows


def markdown(rows) -> list[str]:
    columns = [k for k in rows[0] if k != "layer"]
    lines = ["## Winograd in float32: error against a float64 conv, PyTorch's as the yardstick",
             "", "`python -m benchmarks.winograd_error`: max error / largest output, and rms "
             "error / rms output, for each 3x3 conv of the U-Net (batch 2, post-ReLU inputs, "
             "PyTorch's initialisation). An algorithm is acceptable where it is no worse than "
             "torch float32.", "",
             "| layer | " + " | ".join(f"{c} max / rms" for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['layer']} | " + " | ".join(
            f"{row[c][0]:.1e} / {row[c][1]:.1e}" for c in columns) + " |")
    worst = {c: max(row[c][1] / row["torch float32"][1] for row in rows) for c in columns}
    lines += ["", "Worst rms error against torch float32's, over the layers: " + ", ".join(
        f"{c} {v:.1f}x" for c, v in worst.items()) + ".", ""]
    return lines


if __name__ == "__main__":
    print("\n".join(markdown(measure())))
