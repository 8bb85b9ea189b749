"""Devices: the same ops and models on the CPU and on a GPU, and the errors around them.

The ``device`` fixture (tests/conftest.py) runs a test on "cpu" and on "cuda"; "cuda" skips
with "no CUDA device" on a machine without one. On the device each result is compared with
the CPU run and with PyTorch. The error tests need no GPU: they check the messages given when
CuPy or a device is missing and when one op mixes devices.
"""

import importlib
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.functional as F
import tinyunet.nn as nn
from tinyunet import backend
from tinyunet.models import UNet

ROOT = Path(__file__).resolve().parents[1]


def host(a):
    return a.get() if backend.is_gpu_array(a) else a


# ----- ops on each device -------------------------------------------------------------------

OPS = {  # name: (tinyunet call, torch call, input shapes)
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
               lambda T, x, w, b: T.conv2d(x, w, b, stride=2, padding=1),
               [(2, 3, 7, 6), (4, 3, 3, 3), (4,)]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                            output_padding=1),
                         lambda T, x, w, b: T.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                               output_padding=1),
                         [(2, 3, 4, 5), (3, 4, 3, 3), (4,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), lambda T, x: T.max_pool2d(x, 2),
                   [(2, 3, 7, 6)]),
    "interpolate_bilinear": (
        lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
        lambda T, x: T.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
        [(2, 3, 4, 5)]),
    "interpolate_nearest": (lambda x: F.interpolate(x, size=(9, 4)),
                            lambda T, x: T.interpolate(x, size=(9, 4)), [(2, 3, 4, 5)]),
}


def _run(fn, arrays, grad, device):
    """fn's output and its inputs' gradients, computed on ``device``, brought to the host."""
    inputs = [tu.Tensor(a, requires_grad=True, device=device) for a in arrays]
    y = fn(*inputs)
    assert y.device == device
    y.backward(tu.Tensor(grad, device=device))
    assert all(t.grad is not None and backend.device_of(t.grad) == device for t in inputs)
    return y.numpy(), [host(t.grad) for t in inputs]


@pytest.mark.parametrize("name", OPS)
def test_op_forward_and_backward_on_device(device, torch, name):
    fn, torch_fn, shapes = OPS[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grad = rng.standard_normal(fn(*map(tu.Tensor, arrays)).shape).astype(np.float32)

    y, grads = _run(fn, arrays, grad, device)
    y_cpu, grads_cpu = _run(fn, arrays, grad, "cpu")
    np.testing.assert_allclose(y, y_cpu, rtol=1e-5, atol=1e-5)
    for g, g_cpu in zip(grads, grads_cpu, strict=True):
        np.testing.assert_allclose(g, g_cpu, rtol=1e-5, atol=1e-5)

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y_torch = torch_fn(torch.nn.functional, *ts)
    y_torch.backward(torch.tensor(grad))
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=1e-4, atol=1e-5)
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-4, atol=1e-4)


# ----- a model on each device ---------------------------------------------------------------


def _unet():
    tu.manual_seed(0)
    return UNet(base_channels=4, depth=2)


def _train_step(model, x, target):
    """One SGD step on cross-entropy: (logits, loss, gradients) on the host."""
    optimizer = tu.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    logits = model(x)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    grads = [host(p.grad).copy() for p in model.parameters()]
    optimizer.step()
    return logits.numpy(), loss.item(), grads


def test_unet_forward_backward_and_step_on_device(device, torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 16, 16)).astype(np.float32)
    target = rng.integers(0, 2, size=(2, 16, 16))

    model = _unet().to(device)
    assert all(p.device == device for p in model.parameters())
    logits, loss, grads = _train_step(model, tu.Tensor(x, device=device),
                                      tu.Tensor(target, device=device))
    cpu = _unet()
    logits_cpu, loss_cpu, grads_cpu = _train_step(cpu, tu.Tensor(x), tu.Tensor(target))
    np.testing.assert_allclose(logits, logits_cpu, rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(loss_cpu, rel=1e-5)
    for g, g_cpu in zip(grads, grads_cpu, strict=True):
        np.testing.assert_allclose(g, g_cpu, rtol=1e-3, atol=1e-5)
    for p, p_cpu in zip(model.parameters(), cpu.parameters(), strict=True):  # after the step
        np.testing.assert_allclose(p.numpy(), p_cpu.numpy(), rtol=1e-4, atol=1e-5)

    from tinyunet.torch_twins import twin_of

    twin = twin_of(_unet())
    logits_torch = twin(torch.tensor(x))
    torch.nn.functional.cross_entropy(logits_torch, torch.tensor(target)).backward()
    np.testing.assert_allclose(logits, logits_torch.detach().numpy(), rtol=1e-4, atol=1e-5)
    for g, p_torch in zip(grads, twin.parameters(), strict=True):
        np.testing.assert_allclose(g, p_torch.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_a_state_dict_saved_on_device_loads_on_the_cpu(device, tmp_path):
    model = _unet().to(device)
    x = np.random.default_rng(2).standard_normal((1, 1, 8, 8)).astype(np.float32)
    with tu.no_grad():
        y = model(tu.Tensor(x, device=device)).numpy()
    tu.save({"model": model.state_dict(), "raw": model.head.weight.data}, tmp_path / "ckpt")

    loaded = tu.load(tmp_path / "ckpt")
    assert type(loaded["raw"]) is np.ndarray  # checkpoints live on the host
    np.testing.assert_array_equal(loaded["raw"], host(model.head.weight.data))
    cpu = UNet(base_channels=4, depth=2)  # fresh weights, then the saved ones
    cpu.load_state_dict(loaded["model"])
    with tu.no_grad():
        np.testing.assert_allclose(cpu(tu.Tensor(x)).numpy(), y, rtol=1e-5, atol=1e-6)

    model.load_state_dict(loaded["model"])  # and back onto the device it came from
    assert all(p.device == device for p in model.parameters())
    assert model.to("cpu") is model and all(p.device == "cpu" for p in model.parameters())


# ----- the errors (no GPU needed) -----------------------------------------------------------


class _OnGPU(np.ndarray):
    """A NumPy array that tinyunet is told lives on the GPU (see the fixture below)."""


@pytest.fixture
def fake_gpu(monkeypatch):
    """Make ``Tensor.device`` report 'cuda' for _OnGPU arrays: the mixing check, without a GPU."""
    tensor_module = importlib.import_module("tinyunet.tensor")  # (tu.tensor is the factory)
    monkeypatch.setattr(tensor_module, "device_of",
                        lambda a: "cuda" if isinstance(a, _OnGPU) else "cpu")
    return lambda a: np.asarray(a, dtype=np.float32).view(_OnGPU)


def test_mixing_devices_in_one_op_names_both(fake_gpu):
    a, b = tu.Tensor(np.ones((2, 3), np.float32)), tu.Tensor(fake_gpu(np.ones((2, 3))))
    assert (a.device, b.device) == ("cpu", "cuda")
    with pytest.raises(RuntimeError, match=r"Add: expected all inputs on one device, got "
                                           r"input 0 \(2, 3\) on cpu, input 1 \(2, 3\) on cuda; "
                                           r"move them with \.to\('cuda'\) or \.cpu\(\)"):
        a + b
    x, w = tu.Tensor(np.ones((1, 1, 4, 4), np.float32)), tu.Tensor(fake_gpu(np.ones((2, 1, 3, 3))))
    with pytest.raises(RuntimeError, match=r"input 0 \(1, 1, 4, 4\) on cpu, "
                                           r"input 1 \(2, 1, 3, 3\) on cuda"):
        F.conv2d(x, w)


def test_cuda_without_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now raises ImportError
    assert tu.cuda.is_available() is False and tu.cuda.device_count() == 0
    install = r"needs CuPy, which is not installed: pip install 'tinyunet\[gpu\]'"
    for attempt in (lambda: tu.Tensor(np.ones(3), device="cuda"),
                    lambda: tu.Tensor(np.ones(3)).to("cuda"),
                    lambda: tu.Tensor(np.ones(3)).cuda()):
        with pytest.raises(RuntimeError, match=install):
            attempt()
    model = nn.Conv2d(1, 2, 3)
    with pytest.raises(RuntimeError, match=install):
        model.to("cuda")
    assert all(p.device == "cpu" for p in model.parameters())  # nothing was half-moved


@pytest.mark.parametrize("count", [lambda: 0, lambda: 1 // 0], ids=["zero", "driver-error"])
def test_cuda_without_a_device_says_none_was_found(monkeypatch, count):
    runtime = types.SimpleNamespace(getDeviceCount=count)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=runtime)))
    assert tu.cuda.is_available() is False
    with pytest.raises(RuntimeError, match="'cuda' was requested but no CUDA device was found"):
        tu.Tensor(np.ones(3), device="cuda")


def test_is_available_reflects_this_machine():
    """True exactly when CuPy imports and sees a device (False on the CI machines)."""
    try:
        import cupy

        expected = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001
        expected = False
    assert tu.cuda.is_available() is expected


@pytest.mark.parametrize("name, expected", [(None, "cpu"), ("cpu", "cpu"), ("cuda", "cuda"),
                                            ("cuda:0", "cuda"), ("GPU", "cuda")])
def test_device_names(name, expected):
    assert backend.normalize_device(name) == expected


def test_unknown_devices_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown device 'tpu'; valid choices are 'cpu' and "
                                         "'cuda'"):
        tu.Tensor(np.ones(2), device="tpu")
    with pytest.raises(ValueError, match="unknown device 'mps'"):
        nn.Conv2d(1, 2, 3).to("mps")


def test_layers_are_built_on_the_cpu_and_moved():
    assert nn.Conv2d(1, 2, 3, device="cpu").weight.device == "cpu"
    with pytest.raises(NotImplementedError, match=r"created on the CPU; build the model, then "
                                                  r"move it with model.to\('cuda'\)"):
        nn.Conv2d(1, 2, 3, device="cuda")


def test_gpu_arrays_pick_the_gpu_kernel_set():
    cupy_like = type("ndarray", (), {"__module__": "cupy"})()  # what a CuPy array's type says
    assert backend.kernels(cupy_like).__name__ == "tinyunet.kernels.cuda"
    assert backend.kernels(np.ones(1)).__name__ == backend.KERNEL_SETS[backend.get_kernel_name()]


def test_save_copies_gpu_arrays_to_the_host(tmp_path):
    class ndarray:  # noqa: N801  (stands in for cupy.ndarray: same module, same .get())
        __module__ = "cupy"

        def get(self):
            return np.arange(3.0)

    tu.save({"w": ndarray()}, tmp_path / "c")
    np.testing.assert_array_equal(tu.load(tmp_path / "c")["w"], np.arange(3.0))


def test_importing_tinyunet_imports_neither_cupy_nor_numba_cuda():
    code = ("import sys, tinyunet; "
            "print(sorted(m for m in ('cupy', 'numba.cuda') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
