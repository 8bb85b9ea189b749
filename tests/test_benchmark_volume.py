"""benchmarks/volume.py's machinery (never its timings): the clean environment it gives each
framework's process, one real (tiny) step in each framework, and the report it writes."""

import os

import pytest

from benchmarks import harness, volume


def test_the_environment_of_a_child_holds_nothing_tinyunet_set():
    """tinyunet is imported in this process, so its settings are in os.environ; the children
    get the harness's clean copy, without them."""
    import tinyunet  # noqa: F401  (sets OMP_WAIT_POLICY etc. if not set)

    assert volume.clean_environment is harness.clean_environment
    assert "TINYUNET_SET_ENV" in os.environ
    assert not set(os.environ["TINYUNET_SET_ENV"].split(",")) & set(volume.clean_environment())


@pytest.mark.parametrize("framework", ["tinyunet", "torch"])
def test_one_tiny_step_in_each_framework(torch, framework):
    result = volume.child(framework, batch=1, size=8, steps=2, warmup=0)
    assert result["framework"] == framework and len(result["times_s"]) == 2
    assert result["median_s"] > 0 and result["threads"] >= 1


def test_the_markdown_section():
    result = {"config": dict(volume.CONFIG, batch=2, size=64, steps=3, warmup=1, rounds=5),
              "results": {f: {"median_s": m, "min_s": m - 0.5, "max_s": m + 0.5,
                              "rounds_s": [m], "threads": 2, "environment": {}}
                          for f, m in (("tinyunet", 3.0), ("torch", 2.5))},
              "ratio": 3.0 / 2.5, "load_average": {"before": (1.0, 1, 1), "after": (2.0, 2, 2)},
              "machine": {"cpu": "some CPU", "cores": 2, "python": "3.11"}}
    text = volume.markdown(result)
    assert text.startswith("## 3-D training step (UNet3D, 64^3)")
    assert "| tinyunet | 2 | 3.00 | 2.50 | 3.50 |" in text
    assert "**tinyunet / PyTorch: 1.20x**" in text and "some CPU, 2 cores" in text
    assert "load average 1.00 before, 2.00 after" in text


def test_the_benchmarked_network_has_the_parameters_its_docstring_says(torch):
    from tinyunet.models import UNet3D
    from tinyunet.torch_twins import UNet3D as TorchUNet3D

    assert sum(p.numel() for p in UNet3D(**volume.CONFIG).parameters()) == 1_192_610
    assert sum(p.numel() for p in TorchUNet3D(**volume.CONFIG).parameters()) == 1_192_610
