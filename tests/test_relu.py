"""ReLU's kernels: reference, numba and GPU sets against each other and against PyTorch.

The numba kernel shares big arrays out to the cores in blocks, so the sizes here include
ones that span several blocks and end mid-block.
"""

import numpy as np
import pytest

import tinyunet as tu
from tinyunet.kernels import cuda as gpu_kernels
from tinyunet.kernels import numba_cpu, reference
from tinyunet.kernels.numba_cpu.activation import _BLOCK

SHAPES = [(), (7,), (2, 3, 4, 5), (3, _BLOCK + 17), (2, 2 * _BLOCK)]


def _inputs(shape, dtype, seed=0):
    g = np.random.default_rng(seed)
    x = g.standard_normal(shape).astype(dtype)
    if x.size >= 4:
        flat = x.reshape(-1)
        flat[:4] = np.nan, np.inf, -np.inf, 0.0
    return x, g.standard_normal(shape).astype(dtype)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_sets_agree_with_torch(torch, shape, dtype):
    x, grad = _inputs(shape, dtype)
    if grad.size >= 4:
        grad.reshape(-1)[2] = np.nan  # a NaN gradient at a zeroed unit (input -inf): dropped
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.relu(xt)
    yt.backward(torch.tensor(grad))
    for kernels in (reference, numba_cpu, gpu_kernels):  # the GPU set on NumPy arrays (simulator)
        y = kernels.relu(x)
        assert y.dtype == x.dtype and y.shape == x.shape
        np.testing.assert_array_equal(y, yt.detach().numpy())
        np.testing.assert_array_equal(kernels.relu_backward(grad, y), xt.grad.numpy())


def test_non_contiguous_input_is_read_correctly():
    x, grad = _inputs((6, 8), np.float32)
    view = x[::2, 1::3]
    np.testing.assert_array_equal(numba_cpu.relu(view), np.maximum(view, 0))
    y = np.maximum(view, 0)
    np.testing.assert_array_equal(numba_cpu.relu_backward(grad[::2, 1::3], y),
                                  reference.relu_backward(grad[::2, 1::3], y))


def test_relu_op_gradchecks_and_keeps_only_the_output(kernel_set):
    x = tu.Tensor(np.random.default_rng(3).standard_normal((2, 3, 4)), requires_grad=True)
    y = x.relu()
    assert tu.gradcheck(lambda x: x.relu(), (x,))
    (saved,) = y._node.ctx.saved_tensors  # the output itself: no separate mask is stored
    assert saved is y.data
