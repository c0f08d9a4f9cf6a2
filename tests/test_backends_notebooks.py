"""Every notebook runs unchanged on JAX and on PyTorch (the README's promise), through the runner.

CI executes the notebooks on TensorFlow under nbval (tiny profile). Here each notebook runs once more per
backend, ``KERAS_BACKEND=jax`` and ``=torch``, with the tiny profile shortened by `SHORT` (one epoch, fewer
synthetic samples or trials): the point is that every cell runs and every metric is recorded on that backend,
not the scores. Each must finish, and the results table must say it ran on that backend.

Time: CONTRIBUTING.md, *Three backends* (measured on a loaded machine; estimated 19 to 26 minutes for both
backends on an idle 2-core CI machine).
"""
from __future__ import annotations

import json

import pytest

# The "backend check" setting: the tiny profile with these parameters (solarcnn run NN -p name value ...).
# Measured on the 2-core machine shared with other jobs (times noisy), per notebook jax / torch:
# see the table in CONTRIBUTING.md ("Three backends").
SHORT = {
    "00": {},
    "01": {"n_sequences": 8},
    "02": {"n_sequences": 8, "epochs": 1},
    "03": {"epochs": 1},
    "04": {"epochs": 1, "double_conv_epochs": 1, "wsiseg_epochs": 1, "mc_samples": 2},
    "05": {"epochs": 1, "n_samples": 40},
    "06": {"epochs": 1, "cadence_hours": 24, "input_size": 64},   # 4 folds; torch took > 15 min with epochs 1 alone
    "07": {"n_trials": 2, "epochs": 1, "retrain_epochs": 1, "n_startup_trials": 1},
}


def test_the_short_setting_covers_every_notebook_and_only_declared_parameters():
    from solarcnn.course.runner import check_parameters, list_notebooks

    notebooks = list_notebooks()
    assert sorted(SHORT) == [p.name[:2] for p in notebooks], "add the new notebook to SHORT"
    for path in notebooks:
        check_parameters(path, SHORT[path.name[:2]])       # a renamed parameter fails here, not after minutes


def test_setup_lists_devices_where_keras_has_no_distribution_api(monkeypatch):
    """On PyTorch `keras.distribution.list_devices` raises (no distribution_lib): setup asks torch instead."""
    import keras
    import torch

    from solarcnn.runtime import _devices

    def no_api(*a, **k):
        raise AttributeError("'NoneType' object has no attribute 'list_devices'")

    monkeypatch.setattr(keras.distribution, "list_devices", no_api)
    assert _devices("torch") == ["cpu:0"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    assert _devices("jax") == []


LAMB_STEP = """
import numpy as np, keras
from solarcnn.training.lamb import LAMB
p = keras.Variable(np.array([3.0, 4.0], "float32"))
LAMB(0.01, weight_decay=0.01).apply([np.array([0.6, 0.8], "float32")], [p])   # a NumPy gradient
print(keras.backend.backend(), *np.round(p.numpy(), 6))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_lamb_takes_numpy_gradients_on(backend):
    """Notebook 05's one-step LAMB demo failed on PyTorch (ndarray * Tensor in Keras' global-norm clipping)."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", LAMB_STEP], env={**os.environ, "KERAS_BACKEND": backend},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == [backend, "2.964816", "3.964474"]   # the same step on every backend


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_notebook_runs_and_records_its_backend(backend, tmp_path, monkeypatch):
    __import__(backend)                                   # CI installs the jax and torch extras: fail, don't skip
    from solarcnn.course.runner import list_notebooks, run_notebooks

    monkeypatch.setenv("KERAS_BACKEND", backend)         # the kernels inherit it
    run_dir = tmp_path / backend
    notebooks = list_notebooks()
    failed = {}
    for path in notebooks:
        try:
            res = run_notebooks([path.name[:2]], profile="tiny", parameters=SHORT[path.name[:2]],
                                run_dir=run_dir, progress=False)
        except Exception as exc:                          # papermill's error names the cell; keep going
            failed[path.stem] = f"{type(exc).__name__}: {str(exc)[-600:]}"
        else:
            if res.failed:
                failed[path.stem] = "failed (see the executed copy)"
    assert not failed, f"notebooks that failed on {backend} (executed copies in {run_dir}): {failed}"

    rows = json.loads((run_dir / "results.json").read_text())
    ran_on = {r["notebook"]: r["value"] for r in rows if r["metric"] == "keras_backend"}
    assert ran_on == {p.stem: backend for p in notebooks}, f"keras_backend rows: {ran_on}"
    timed = {r["notebook"] for r in rows if r["metric"] == "wall_time"}
    assert timed == {p.stem for p in notebooks}
    table = (run_dir / "results.md").read_text()
    assert all(f"| {p.stem} | keras_backend | {backend} |" in table for p in notebooks)
