"""vol2col and col2vol: im2col with one more axis, one band of output rows at a time.

vol2col lays every receptive field of one sample out as a column::

    cols[(c, kd, kh, kw), j] = x[c, od*s_D - p_D + kd*d_D, oh*s_H - p_H + kh*d_H,
                                    ow*s_W - p_W + kw*d_W]                  (0 outside x)

for the output rows r = od*H_out + oh in a band [r0, r1), column j = (r - r0)*W_out + ow. A
conv is then ``W (C_out, C_in kD kH kW) @ cols``: the band's output, already in (C_out,
D, H, W) order. A whole 64^3 volume would need C_in*27 columns of 262,144 floats (1.3 GB for
48 channels), so the volume goes in bands whose columns fit in a cache-sized workspace.

col2vol is vol2col's adjoint, the transposed convolution's scatter: column (c, kd, kh, kw) at
input position (id, ih, iw) is *added* to y[c, id*s_D - p_D + kd*d_D, ...].

Both find, per kernel tap, the range of output columns whose input column is inside x, so the
inner loop is a branch-free strided copy (the trick of numba_cpu/conv.py's im2col). Padding
may be negative here (a conv that starts inside its input): the stride-1 transposed conv is a
conv with front padding d(k - 1) - p, which is negative when p crops more than the kernel adds.
"""

from __future__ import annotations

from numba import njit


@njit(nogil=True, cache=True)
def _inside(shift, s, size, n_out):
    """[lo, hi): the outputs o < n_out whose input o*s + shift lies in [0, size)."""
    lo = min(n_out, max(0, (-shift + s - 1) // s))
    hi = min(n_out, max(lo, (size - shift + s - 1) // s))
    return lo, hi


@njit(nogil=True, cache=True)
def vol2col(x, kD, kH, kW, sd, sh, sw, pd, ph, pw, dd, dh, dw, H_out, W_out, r0, r1, cols):
    """Fill cols (C*kD*kH*kW, (r1 - r0)*W_out) from one sample x (C, D, H, W): output rows
    r0 <= r = od*H_out + oh < r1 (see the module docstring)."""
    C, D, H, W = x.shape
    for c in range(C):
        for kd in range(kD):
            for kh in range(kH):
                for kw in range(kW):
                    row = cols[((c * kD + kd) * kH + kh) * kW + kw]
                    shift = kw * dw - pw  # iw = ow*sw + shift
                    lo, hi = _inside(shift, sw, W, W_out)
                    for r in range(r0, r1):
                        id_ = (r // H_out) * sd - pd + kd * dd
                        ih = (r % H_out) * sh - ph + kh * dh
                        dst = row[(r - r0) * W_out:]
                        if id_ < 0 or id_ >= D or ih < 0 or ih >= H or lo == hi:
                            dst[:W_out] = 0.0  # the whole row reads padding
                            continue
                        src = x[c, id_, ih, lo * sw + shift:]
                        dst[:lo] = 0.0
                        if sw == 1:  # a slice copy: numba makes it a vector loop
                            dst[lo:hi] = src[:hi - lo]
                        else:
                            for t in range(hi - lo):
                                dst[lo + t] = src[t * sw]
                        dst[hi:W_out] = 0.0


@njit(nogil=True, cache=True)
def col2vol(cols, b, kD, kH, kW, sd, sh, sw, pd, ph, pw, dd, dh, dw, D_in, H_in, W_in, y):
    """y (C, D_out, H_out, W_out) = b + the scatter-add of cols (C*kD*kH*kW, D_in*H_in*W_in):
    vol2col's adjoint. Input column iw lands on output column ow = iw*sw + kw*dw - pw."""
    C, D_out, H_out, W_out = y.shape
    for c in range(C):
        y[c, :, :, :] = b[c]
        for kd in range(kD):
            for kh in range(kH):
                for kw in range(kW):
                    row = cols[((c * kD + kd) * kH + kh) * kW + kw]
                    shift = kw * dw - pw
                    lo, hi = _inside(shift, sw, W_out, W_in)
                    if lo == hi:
                        continue
                    for id_ in range(D_in):
                        od = id_ * sd - pd + kd * dd
                        if od < 0 or od >= D_out:
                            continue
                        for ih in range(H_in):
                            oh = ih * sh - ph + kh * dh
                            if oh < 0 or oh >= H_out:
                                continue
                            src = row[(id_ * H_in + ih) * W_in + lo:]
                            dst = y[c, od, oh, lo * sw + shift:]
                            for t in range(hi - lo):
                                dst[t * sw] += src[t]
