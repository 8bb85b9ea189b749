"""Benchmarks: tinyunet against PyTorch CPU, each framework in processes of its own.

    python -m benchmarks            # everything (about ten minutes on two cores); writes
                                    # benchmarks/RESULTS.md, results.png and results.json
    python -m benchmarks --quick    # fewer rounds and repeats, for a smoke test

``harness.py`` starts the child processes (``child.py``), one framework each with a clean
environment, alternating round by round, and summarises them; ``workloads.py`` says what is
timed (the training step, inference, every conv layer, other ops) in each framework;
``models.py`` holds the reference U-Net's layers and FLOP counts; ``breakdown.py`` times a
tinyunet step op by op; ``report.py`` writes the tables and the chart. Timings live here,
never in tests. Nothing here imports tinyunet at the top: the parent process must not.
"""
