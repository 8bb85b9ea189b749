"""The benchmark harness's machinery (never its timings): each framework's child process gets
a clean environment, torch's never imports tinyunet, and the report states what it measured."""

import os
import sys

from benchmarks import child, harness, report, workloads


def test_the_children_get_none_of_what_tinyunet_set_for_itself(monkeypatch):
    from tinyunet import threads

    for key in threads.SET_BY_TINYUNET:
        assert key in os.environ  # tinyunet put it there, in this (test) process
    env = harness.clean_environment()
    assert not set(threads.SET_BY_TINYUNET) & set(env)
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    assert harness.clean_environment()["SOMETHING_ELSE"] == "kept"


def test_a_process_started_after_tinyunet_still_knows_its_variables(monkeypatch):
    """A process that inherited tinyunet's settings without importing it (a pytest-xdist
    worker, a script started by a training run) reads them from TINYUNET_SET_ENV; a variable
    the user set is not listed there and stays."""
    inherited = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "4",
                 "TINYUNET_SET_ENV": "OMP_WAIT_POLICY", "PATH": "/bin"}
    monkeypatch.delitem(sys.modules, "tinyunet.threads")
    assert harness.clean_environment(inherited) == {"OPENBLAS_NUM_THREADS": "4", "PATH": "/bin"}


def test_a_torch_child_runs_without_tinyunet(torch):
    """A real child process: torch's matrix product, in an environment without tinyunet's
    settings, in a process that never imported tinyunet."""
    answer = harness.run_child("ceiling", "torch", 1)
    assert answer["framework"] == "torch" and answer["tinyunet_imported"] is False
    assert not set(answer["env"]) & {"OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS"}
    assert answer["gflops"] > 0 and answer["threads"] >= 1


def test_each_workload_runs_in_tinyunet():
    step = workloads.training_step("tinyunet", batch=1, size=16)
    assert len(child.times(step, repeats=2, warmup=0)) == 2
    from benchmarks.models import reference_layers

    forward, setup, backward = workloads.conv_layer("tinyunet", reference_layers(16)[1], batch=1)
    setup()
    backward()
    for name in workloads.OPS:
        workloads.op("tinyunet", name, batch=1)[0]()


def test_the_report_names_each_target(tmp_path):
    def sm(x):
        return {"median": x, "min": x, "max": x, "rounds": [x, x]}

    res = {"machine": {"cpu": "a CPU", "cores": 2, "os": "Linux", "python": "3.11",
                       "numpy": "2", "numba": "0.6", "torch": "2", "started": "today",
                       "load_average": (0.5, 0.5, 0.5)},
           "plan": {"step": (2, 3)},
           "step": {"tinyunet": sm(0.25), "torch": sm(0.30)},
           "memory": {fw: {k: sm(v) for k, v in (("rss_after_import_mib", 100),
                                                 ("rss_after_warmup_mib", 200),
                                                 ("peak_rss_mib", p))}
                      for fw, p in (("tinyunet", 300), ("torch", 500))}}
    report.write_report(res, str(tmp_path))
    text = (tmp_path / "RESULTS.md").read_text()
    assert "step <= 0.8x PyTorch CPU: 0.83x, **NOT met** (within 0.9x" in text
    assert "peak memory of a training step <= 0.6x torch's: 0.60x (300 vs 500 MiB), **met**" in text
    assert (tmp_path / "results.png").stat().st_size > 0
