"""The GPU kernel set's 3-D kernels against the reference set, on tiny shapes.

As tests/test_cuda_kernels.py, with its helpers: CuPy arrays on a machine with a GPU, numba's
CUDA simulator (every GPU thread a Python thread on NumPy arrays) without one, hence the tiny
shapes.
"""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.kernels.reference as R
from tests.test_cuda_kernels import G, close, dev  # (skips this module too where that one skips)

CONV = [  # (weight shape, stride, padding, dilation)
    ((3, 2, 3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1)),  # the U-Net's 3x3x3, 'same'
    ((2, 2, 2, 1, 2), (2, 1, 2), (1, 0, 0), (1, 2, 1)),
    ((3, 2, 1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1)),  # pointwise: no vol2col at all
]


@pytest.mark.parametrize("w_shape, stride, padding, dilation", CONV)
def test_conv3d_and_its_weight_gradient(w_shape, stride, padding, dilation):
    g = np.random.default_rng(1)
    x, w, b = g.standard_normal((2, 2, 3, 4, 3)), g.standard_normal(w_shape), g.standard_normal(
        w_shape[0])
    y = R.conv3d(x, w, b, stride, padding, dilation)
    close(G.conv3d(dev(x), dev(w), dev(b), stride, padding, dilation), y)
    grad_y = g.standard_normal(y.shape)
    close(G.conv3d_grad_weight(dev(x), dev(grad_y), w_shape[2:], stride, padding, dilation),
          R.conv3d_grad_weight(x, grad_y, w_shape[2:], stride, padding, dilation))


@pytest.mark.parametrize("w_shape, stride, padding, output_padding, dilation", [
    ((2, 3, 2, 2, 2), (2, 2, 2), (0, 0, 0), (0, 0, 0), (1, 1, 1)),  # the U-Net's up-conv
    ((2, 2, 3, 1, 2), (2, 1, 3), (1, 0, 1), (1, 0, 2), (1, 2, 1)),
])
def test_conv_transpose3d(w_shape, stride, padding, output_padding, dilation):
    g = np.random.default_rng(2)
    x, w = g.standard_normal((2, 2, 2, 3, 2)), g.standard_normal(w_shape)
    b = g.standard_normal(w_shape[1])
    close(G.conv_transpose3d(dev(x), dev(w), dev(b), stride, padding, output_padding, dilation),
          R.conv_transpose3d(x, w, b, stride, padding, output_padding, dilation))


@pytest.mark.parametrize("hyper", [((2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), False),
                                   ((3, 2, 2), (2, 1, 2), (1, 0, 1), (1, 2, 1), True)])
def test_max_pool3d_and_backward(hyper):
    g = np.random.default_rng(3)
    x = g.standard_normal((1, 2, 4, 5, 4))
    x[0, 0, 0, 0, 1] = x[0, 0, 0, 0, 0]  # a tie: the first voxel wins
    y, argmax = R.max_pool3d(x, *hyper)
    y_gpu, argmax_gpu = G.max_pool3d(dev(x), *hyper)
    close(y_gpu, y)
    close(argmax_gpu, argmax)
    grad = g.standard_normal(y.shape)
    close(G.max_pool3d_backward(dev(grad), dev(argmax), x.shape),
          R.max_pool3d_backward(grad, argmax, x.shape))


def test_a_unet3d_trains_through_the_gpu_kernels(monkeypatch):
    """Every op routed to the GPU set (here on NumPy arrays): a UNet3D's forward and backward
    (3x3x3 convs, 2x2x2 pools and up-convolutions, BatchNorm) match the numba set's, so the
    3-D ops hand the GPU kernels the right arguments."""
    import tinyunet.kernels.numba_cpu as numba_cpu
    import tinyunet.ops.conv3d as conv3d_ops
    from tinyunet.models import UNet3D

    def run(kernels):
        monkeypatch.setattr(tu.backend, "kernels", lambda *arrays: kernels)
        monkeypatch.setattr(conv3d_ops, "kernels", lambda *arrays: kernels)
        tu.manual_seed(0)
        model = UNet3D(base_channels=1, depth=1, padding="same").double()
        x = tu.Tensor(np.random.default_rng(1).standard_normal((1, 1, 4, 4, 6)))
        y = model(x)
        (y * y).sum().backward()
        return y.numpy(), [p.grad for p in model.parameters()]

    y_gpu, grads_gpu = run(G)
    y_cpu, grads_cpu = run(numba_cpu)
    assert y_gpu.shape == (1, 2, 4, 4, 6)
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=1e-10, atol=1e-12)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu, strict=True):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-9, atol=1e-12)
