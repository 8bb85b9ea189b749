"""Task 2.2: the transposed convolution, as conv2d's adjoint, with output_padding."""

import numpy as np
import pytest
from graded_checks import assert_close, conv_out, conv_transpose2d

import tinyunet.kernels.reference.conv as kernels


def _hyper(rng):
    stride = tuple(int(s) for s in rng.integers(1, 3, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    padding = tuple(int(rng.integers(0, (dilation[i] * (kernel[i] - 1)) // 2 + 1))
                    for i in range(2))
    return kernel, stride, padding, dilation


@pytest.mark.task("2.2", points=2)
@pytest.mark.parametrize("case", range(3))
def test_adjoint_of_conv2d(case, rng):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>: the transposed conv *is* A_w^T."""
    kernel, stride, padding, dilation = _hyper(rng)
    N, C_in, C_out = (int(n) for n in rng.integers(1, 3, size=3))
    size = tuple(int(dilation[i] * (kernel[i] - 1) + 1 + rng.integers(1, 5)) for i in range(2))
    out = tuple(conv_out(size[i], kernel[i], stride[i], padding[i], dilation[i])
                for i in range(2))
    natural = tuple(conv_out(out[i], kernel[i], stride[i], padding[i], dilation[i], 0, True)
                    for i in range(2))
    output_padding = (size[0] - natural[0], size[1] - natural[1])
    x, w = rng.standard_normal((N, C_in) + size), rng.standard_normal((C_out, C_in) + kernel)
    y = rng.standard_normal((N, C_out) + out)
    back = kernels.conv_transpose2d(y, w, None, stride, padding, output_padding, dilation)
    assert np.shape(back) == x.shape, (f"conv_transpose2d of {y.shape} should give {x.shape}, "
                                       f"got {np.shape(back)}")
    forward = kernels.conv2d(x, w, None, stride, padding, dilation)
    assert_close(float((x * back).sum()), float((forward * y).sum()), "<x, A^T y> vs <A x, y>")


@pytest.mark.task("2.2", points=2)
@pytest.mark.parametrize("case", range(3))
def test_against_a_scatter_oracle(case, rng):
    kernel, stride, padding, dilation = _hyper(rng)
    output_padding = tuple(int(rng.integers(0, max(stride[i], dilation[i]))) for i in range(2))
    N, C_in, C_out = (int(n) for n in rng.integers(1, 3, size=3))
    x = rng.standard_normal((N, C_in) + tuple(int(n) for n in rng.integers(2, 5, size=2)))
    w, b = rng.standard_normal((C_in, C_out) + kernel), rng.standard_normal(C_out)
    hyper = (stride, padding, output_padding, dilation)
    assert_close(kernels.conv_transpose2d(x, w, b, *hyper), conv_transpose2d(x, w, b, *hyper),
                 f"conv_transpose2d of x {x.shape}, w {w.shape}, stride {stride}, padding "
                 f"{padding}, output_padding {output_padding}, dilation {dilation}")


@pytest.mark.task("2.2", points=2)
@pytest.mark.parametrize("output_padding", [0, 1])
def test_output_padding_picks_the_size(output_padding, rng):
    """kernel 3, stride 2, padding 1 maps both 7 and 8 to 4; output_padding picks 7 or 8."""
    C_in, C_out = (int(n) for n in rng.integers(1, 3, size=2))
    x = rng.standard_normal((1, C_in, 4, 4))
    w = rng.standard_normal((C_in, C_out, 3, 3))
    hyper = ((2, 2), (1, 1), (output_padding, output_padding), (1, 1))
    y = kernels.conv_transpose2d(x, w, None, *hyper)
    assert np.shape(y) == (1, C_out, 7 + output_padding, 7 + output_padding)
    assert_close(y, conv_transpose2d(x, w, None, *hyper), "conv_transpose2d, output_padding")
