"""Compiling ahead (kernels/numba_cpu/ahead.py): the background process compiles exactly the
signatures a float32 training step uses, and starts only when the cache lacks them."""

import json
import os
import subprocess
import sys
import textwrap

from tinyunet.kernels.numba_cpu import ahead


def test_the_examples_are_the_signatures_a_training_step_compiles(tmp_path):
    """In a fresh process (its own, empty numba cache): a float32 U-Net step compiles, of
    the kernels compiled ahead, exactly the examples' signatures, and no other kernel."""
    code = textwrap.dedent("""
        import json, sys
        import numba, numpy as np
        from numba.core.registry import CPUDispatcher
        import tinyunet as tu, tinyunet.functional as F
        from tinyunet.kernels.numba_cpu import ahead
        from tinyunet.models import UNet
        x = np.random.default_rng(0).standard_normal((2, 1, 64, 64)).astype(np.float32)
        F.cross_entropy(UNet()(tu.Tensor(x)), np.zeros((2, 64, 64), np.int64)).backward()
        compiled = {str(s) for m, mod in list(sys.modules.items())
                    if m.startswith("tinyunet.kernels.numba_cpu")
                    for k in vars(mod).values() if isinstance(k, CPUDispatcher)
                    for s in k.signatures}
        examples = {str(tuple(numba.typeof(a) for a in args)) for _, args in ahead._examples()}
        print(json.dumps([sorted(compiled - examples), sorted(examples - compiled)]))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "TINYUNET_COMPILE_AHEAD": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr[-2000:]
    not_ahead, not_used = json.loads(out.stdout.strip().splitlines()[-1])
    assert not_ahead == [] and not_used == []


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
