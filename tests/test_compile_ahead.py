"""Compiling ahead (kernels/numba_cpu/ahead.py): the background process compiles exactly the
signatures a float32 training step uses, and starts only when the cache lacks them."""

import numba
import numpy as np

import tinyunet as tu
import tinyunet.functional as F
from tinyunet.kernels.numba_cpu import ahead
from tinyunet.models import UNet


def test_the_examples_are_the_signatures_a_training_step_compiles():
    with tu.use_kernels("numba"):
        x = np.random.default_rng(0).standard_normal((2, 1, 64, 64)).astype(np.float32)
        F.cross_entropy(UNet()(tu.Tensor(x)), np.zeros((2, 64, 64), np.int64)).backward()
    examples = ahead._examples()
    for kernel, args in examples:
        signature = tuple(numba.typeof(a) for a in args)
        assert signature in kernel.signatures, kernel.py_func.__name__
    used = {e[0] for e in examples}
    for kernel in used:  # and nothing else in float32 that the step compiled
        float32 = [s for s in kernel.signatures if "float32" in str(s)]
        assert len(float32) == 1, (kernel.py_func.__name__, float32)


def test_starts_only_when_the_cache_lacks_the_kernels(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(ahead.subprocess, "Popen", lambda *a, **k: started.append(a))
    monkeypatch.setattr(ahead, "_marker", lambda: str(tmp_path / "marker"))
    monkeypatch.delenv("TINYUNET_COMPILE_AHEAD", raising=False)
    ahead.start()
    assert len(started) == 1  # no marker: one background process
    (tmp_path / "marker").write_text("")
    ahead.start()
    monkeypatch.setenv("TINYUNET_COMPILE_AHEAD", "0")
    (tmp_path / "marker").unlink()
    ahead.start()
    assert len(started) == 1  # the marker, or the switch, keeps it from starting again
