"""Benchmarks: tinyunet against PyTorch CPU, side by side in the same run.

    python -m benchmarks            # everything; writes benchmarks/RESULTS.md and results.png
    python -m benchmarks --quick    # fewer repeats, for a smoke test

``models.py`` builds the reference U-Net in both frameworks, ``harness.py`` times layers, ops,
the training step and inference (medians over repeats after warm-up, interleaved so both
frameworks see the same machine load), ``child.py`` runs what needs a fresh process (peak
memory, import time, time to the first step with a cold and a warm numba cache) and
``report.py`` writes the table and the chart. Timings live here, never in tests.
"""
