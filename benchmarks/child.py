"""Measurements that need a fresh process: ``python -m benchmarks.child MODE FRAMEWORK``.

``memory``   peak resident memory (VmHWM) over three training steps, and the resident
             memory right after import, so the import's own share can be told apart.
``startup``  import time and time to the end of the first training step (model built, data
             made, forward, loss, backward, SGD). For tinyunet, whether importing compiled
             anything (every numba kernel must still have no compiled signature). The numba
             cache is whatever NUMBA_CACHE_DIR holds: the harness passes an empty folder
             (cold) and then the same folder again (warm).

Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time


def _status_kib(field: str) -> int:
    """A memory line of /proc/self/status. VmHWM (peak RSS) is per process image, unlike
    ru_maxrss, which Linux carries across exec from the (forked) parent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _imports(framework):
    t = time.perf_counter()
    if framework == "torch":
        import torch  # noqa: F401
    else:
        import tinyunet  # noqa: F401
        import tinyunet.kernels.numba_cpu  # noqa: F401  (the kernels, as the first op would)
    return time.perf_counter() - t


def _stepper(framework, batch=8, size=128):
    import numpy as np

    from .models import tinyunet_unet, torch_unet

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, (batch, size, size))
    if framework == "torch":
        import torch

        model = torch_unet()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
    else:
        import tinyunet as tu
        import tinyunet.functional as F
        from tinyunet.optim import SGD

        model = tinyunet_unet()
        opt = SGD(model.parameters(), lr=0.01)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(tu.Tensor(x)), y).backward()
            opt.step()
    return step


def _compiled_on_import() -> list[str]:
    """Names of numba kernels that already hold a compiled signature (should be none)."""
    from numba.core.registry import CPUDispatcher

    import tinyunet.kernels.numba_cpu as k

    found = []
    for name, mod in list(sys.modules.items()):
        if name.startswith(k.__name__):
            for attr, obj in vars(mod).items():
                if isinstance(obj, CPUDispatcher) and obj.signatures:
                    found.append(f"{name}.{attr}")
    return found


def main(mode: str, framework: str) -> dict:
    import_s = _imports(framework)
    out = {"framework": framework, "import_s": import_s,
           "rss_after_import_mib": _status_kib("VmRSS") / 1024}
    if framework == "tinyunet":
        out["compiled_on_import"] = _compiled_on_import()
    t = time.perf_counter()
    step = _stepper(framework)
    step()
    out["first_step_s"] = time.perf_counter() - t
    if mode == "memory":
        for _ in range(3):
            step()
        out["peak_rss_mib"] = _status_kib("VmHWM") / 1024
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
