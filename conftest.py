"""Test-session wiring shared by the unit tests and the notebooks run under nbval.

- Environment: the data mirror (``../shared/data`` beside the checkout unless
  ``SOLARCNN_DATA_MIRROR`` is set), and a run folder ``runs/test/`` that the
  notebooks' metrics (`solarcnn.record`) and work files go into.
- Order: unit tests first, then the notebooks in number order, then the tests
  marked ``after_notebooks`` (the book built from the executed notebooks).
- nbval executes each notebook once; this file saves what it executed (outputs
  included) as ``runs/test/NN_slug.ipynb`` with the wall time per notebook, so
  the book renders exactly the run that was tested — nothing is executed twice.
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
RUN_DIR = Path(os.environ.get("SOLARCNN_TEST_RUN_DIR", ROOT / "runs" / "test"))

_cells: dict[str, dict] = {}       # notebook path -> {"nb": parent.nb, "outs": {cell_num: outputs}, "t": seconds}


@pytest.fixture(autouse=True)
def _float32_policy_after_each_test():
    """A test that sets a mixed dtype policy (the benchmark worker run in-process, setup(mixed_precision=...))
    must not leak it into the next: Keras' policy is global, and `solarcnn.runtime.clear_session` keeps it."""
    yield
    import sys

    if "keras" in sys.modules:
        import keras

        if keras.config.dtype_policy().name != "float32":
            keras.config.set_dtype_policy("float32")


def pytest_configure(config):
    config.addinivalue_line("markers", "after_notebooks: runs after the notebooks (uses their executed copies)")
    mirror = ROOT.parent / "shared" / "data"
    if "SOLARCNN_DATA_MIRROR" not in os.environ and mirror.is_dir():
        os.environ["SOLARCNN_DATA_MIRROR"] = str(mirror)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SOLARCNN_RESULTS_DIR", str(RUN_DIR / "metrics"))
    os.environ.setdefault("SOLARCNN_WORKDIR", str(RUN_DIR / "work"))
    # The notebooks' exercise checks (solarcnn.exercises.check) raise when an answer is wrong: CI runs every
    # check against its solution, so a solution that no longer passes its check fails the notebook.
    os.environ.setdefault("SOLARCNN_EXERCISES_STRICT", "1")


def _is_nbval(item) -> bool:
    return type(item).__name__ == "IPyNbCell"


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        if _is_nbval(item):
            return (1, str(item.fspath))
        if item.get_closest_marker("after_notebooks"):
            return (2, "")
        return (0, "")
    items[:] = sorted(items, key=rank)      # sorted() is stable: order inside a group is kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    t0 = time.perf_counter()
    outcome = yield
    if _is_nbval(item):
        key = str(item.fspath)
        rec = _cells.setdefault(key, {"nb": item.parent.nb, "outs": {}, "t": 0.0})
        rec["t"] += time.perf_counter() - t0
        outs = [dict(o) for o in (item.test_outputs or [])]
        exc = outcome.excinfo
        if exc is not None and not any(o.get("output_type") == "error" for o in outs):
            outs.append({"output_type": "error", "ename": exc[0].__name__, "evalue": str(exc[1])[:2000],
                         "traceback": []})
        rec["outs"][item.cell_num] = outs


def _write_executed(key: str, rec: dict) -> Path:
    import nbformat

    nb = copy.deepcopy(rec["nb"])
    count, code_i = 0, 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = rec["outs"].get(code_i)
        code_i += 1
        if outs is None:
            cell.outputs, cell.execution_count = [], None
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = [nbformat.from_dict(o) for o in outs]
        for o in cell.outputs:
            if o.get("output_type") == "execute_result":
                o["execution_count"] = count
    dest = RUN_DIR / Path(key).name
    nbformat.write(nb, dest)
    return dest


def pytest_runtest_logfinish(nodeid, location):
    # When the last cell of a notebook has run, save that notebook.
    for key, rec in list(_cells.items()):
        n_code = sum(1 for c in rec["nb"].cells if c.cell_type == "code")
        if not rec.get("saved") and len(rec["outs"]) == n_code:
            _write_executed(key, rec)
            rec["saved"] = True
            durations_file = RUN_DIR / "durations.json"
            d = json.loads(durations_file.read_text()) if durations_file.exists() else {}
            d[Path(key).stem] = round(rec["t"], 1)
            durations_file.write_text(json.dumps(d, indent=1, sort_keys=True))


def pytest_sessionfinish(session, exitstatus):
    for key, rec in _cells.items():       # notebooks stopped part-way (a failing cell): keep what ran
        if not rec.get("saved"):
            _write_executed(key, rec)


@pytest.fixture(scope="session")
def test_run_dir() -> Path:
    """The folder holding the notebooks executed in this session (``runs/test``)."""
    return RUN_DIR


@pytest.fixture(scope="session")
def executed_notebooks() -> dict:
    """Names of the notebooks executed (completely) in this session."""
    return {Path(k).stem: rec.get("saved", False) for k, rec in _cells.items()}


@pytest.fixture(scope="session")
def real_stats_path() -> Path:
    """The genuine DeepCAM ``stats.h5`` (train split), through the data registry."""
    from solarcnn.data import fetch

    return fetch("deepcam_stats", "stats.h5")
