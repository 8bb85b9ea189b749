"""Shared fixtures: the PyTorch oracle, both kernel sets, hypothesis profiles.

PyTorch is the test oracle and a dev dependency. Locally a missing torch skips the oracle
tests with a reason; in CI (``CI`` set) it is a failure, never a skip.
"""

import os


def _gpu_usable() -> bool:
    """CuPy installed and a CUDA device found (asked without importing tinyunet or numba)."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001  (ImportError, or CuPy's CUDARuntimeError without a driver)
        return False


# Without a GPU the GPU kernels (numba.cuda) run on numba's CUDA simulator, which numba reads
# from the environment when it is first imported: so this comes before anything imports numba.
if not _gpu_usable():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import tinyunet as tu  # noqa: E402

settings.register_profile(  # fixed examples: a run is repeatable, CI cannot flake on a new draw
    "default",
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _import_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("PyTorch (the test oracle) is not installed, and CI requires it")
        pytest.skip("PyTorch (the test oracle) is not installed: pip install -e '.[dev]'")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def torch():
    """The PyTorch module, as the oracle. Fails (CI) or skips (locally) when missing."""
    return _import_torch()


@pytest.fixture(params=["reference", "numba"])
def kernel_set(request):
    """Run the test once with each kernel set selected."""
    with tu.use_kernels(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """Run the test once per device; 'cuda' skips where there is no GPU to run it on."""
    if request.param == "cuda" and not tu.cuda.is_available():
        pytest.skip("no CUDA device")
    return request.param
