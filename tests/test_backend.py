"""Choosing the kernel set (reference or numba) and the array module (numpy; cupy on a GPU)."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.backend as backend


@pytest.fixture(autouse=True)
def restore_selection(monkeypatch):
    """Each test starts from, and leaves behind, the selection the session had."""
    monkeypatch.setattr(backend, "_selected", backend._selected)


def test_set_kernels_switches_the_kernel_module():
    tu.set_kernels("reference")
    assert tu.get_kernel_name() == "reference"
    assert backend.kernels().__name__ == "tinyunet.kernels.reference"
    tu.set_kernels("numba")
    assert tu.get_kernel_name() == "numba"
    assert backend.kernels().__name__ == "tinyunet.kernels.numba_cpu"


def test_both_kernel_sets_export_the_same_names():
    with tu.use_kernels("reference"):
        reference = {n for n in dir(backend.kernels()) if not n.startswith("_")}
    with tu.use_kernels("numba"):
        fast = {n for n in dir(backend.kernels()) if not n.startswith("_")}
    contract = {
        "conv2d",
        "conv_transpose2d",
        "conv2d_grad_weight",
        "max_pool2d",
        "max_pool2d_backward",
        "avg_pool2d",
        "avg_pool2d_backward",
    }
    assert contract <= reference and contract <= fast


@pytest.mark.parametrize("outer, inner", [("numba", "reference"), ("reference", "numba")])
def test_use_kernels_switches_and_restores(outer, inner):
    tu.set_kernels(outer)
    with tu.use_kernels(inner):
        assert tu.get_kernel_name() == inner
        with tu.use_kernels(outer):
            assert tu.get_kernel_name() == outer
        assert tu.get_kernel_name() == inner
    assert tu.get_kernel_name() == outer


def test_use_kernels_restores_after_an_exception():
    tu.set_kernels("numba")
    with pytest.raises(KeyError), tu.use_kernels("reference"):
        raise KeyError("boom")
    assert tu.get_kernel_name() == "numba"


def test_an_unknown_kernel_set_lists_the_valid_ones():
    tu.set_kernels("reference")
    for attempt in (lambda: tu.set_kernels("cuda"), lambda: tu.use_kernels("cuda").__enter__()):
        with pytest.raises(ValueError, match="'cuda'") as info:
            attempt()
        assert "'reference'" in str(info.value) and "'numba'" in str(info.value)
    assert tu.get_kernel_name() == "reference"  # a failed switch changes nothing


@pytest.mark.parametrize(
    "value, expected", [("reference", "reference"), ("numba", "numba"), ("", "numba")]
)
def test_tinyunet_kernels_environment_variable_is_read(monkeypatch, value, expected):
    monkeypatch.setenv("TINYUNET_KERNELS", value)
    monkeypatch.setattr(backend, "_selected", None)  # as in a fresh process
    assert tu.get_kernel_name() == expected


def test_default_kernel_set_is_numba(monkeypatch):
    monkeypatch.delenv("TINYUNET_KERNELS", raising=False)
    monkeypatch.setattr(backend, "_selected", None)
    assert tu.get_kernel_name() == "numba"


def test_a_bad_environment_variable_names_itself(monkeypatch):
    monkeypatch.setenv("TINYUNET_KERNELS", "fortran")
    monkeypatch.setattr(backend, "_selected", None)
    with pytest.raises(ValueError, match=r"TINYUNET_KERNELS.*'fortran'.*'reference'.*'numba'"):
        tu.get_kernel_name()


def test_set_kernels_overrides_the_environment_variable(monkeypatch):
    monkeypatch.setenv("TINYUNET_KERNELS", "numba")
    monkeypatch.setattr(backend, "_selected", None)
    tu.set_kernels("reference")
    assert tu.get_kernel_name() == "reference"


@pytest.mark.parametrize(
    "arrays",
    [
        (np.zeros(3),),
        (tu.Tensor(np.zeros(3)),),
        (np.float32(1.0),),
        (np.zeros(2), tu.Tensor([1.0]), 3.0),
    ],
    ids=["ndarray", "Tensor", "numpy scalar", "mixed"],
)
def test_get_array_module_is_numpy_on_the_cpu(arrays):
    assert tu.get_array_module(*arrays) is np
