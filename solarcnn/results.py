"""Metrics that notebooks record for the run's results table.

A notebook calls ``solarcnn.record("val_accuracy", acc)``. Under the runner
(`solarcnn run`) or the test suite, ``SOLARCNN_RESULTS_DIR`` names a folder and
each notebook's metrics go to ``<folder>/<notebook>.json``; the runner then
collects them into ``results.json`` and ``results.md``. Run interactively, the
values are kept in memory and printed, nothing is written.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from .runtime import current_notebook, current_precision
from .utils import atomic_write_text

_MEMORY: dict[str, dict] = {}
# Where a notebook's data came from (`solarcnn.data.archive.announce_source`): recorded, never a headline.
PROVENANCE = ("data_source", "data_files")


def _clean(value):
    """JSON-safe Python scalar (NumPy/Keras scalars become float/int)."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"solarcnn.record: value must be a number, bool or string; received {value!r}") from None
    return f


def record(name: str, value, *, unit: str = "", description: str = "", notebook: str | None = None,
           verbose: bool = True, headline: bool = False) -> None:
    """Record one metric for the results table.

    Args:
        name: a short key, e.g. ``"val_accuracy"``.
        value: a number (NumPy and Keras scalars are accepted), bool or string.
        unit: e.g. ``"s"`` or ``"samples/s"``; empty for ratios and scores.
        description: a few words for the table.
        notebook: defaults to the name given to `solarcnn.setup`.
        verbose: print the recorded value.
        headline: this is the notebook's headline metric, the one ``solarcnn run`` prints beside the
            notebook's time (without any, the first metric the notebook recorded is its headline).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"solarcnn.record: name must be a non-empty string; received {name!r}")
    value = _clean(value)
    if isinstance(value, float) and not math.isfinite(value):
        import warnings

        warnings.warn(f"solarcnn.record: metric {name!r} is {value}; recorded as such", stacklevel=2)
    nb = notebook or current_notebook() or "interactive"
    entry = {"value": value, "unit": unit, "description": description, "time": time.time(),
             "backend": keras_backend()}
    if current_precision():
        entry["precision"] = current_precision()     # what solarcnn.setup chose (float32 / bfloat16)
    if headline:
        entry["headline"] = True
    _MEMORY.setdefault(nb, {})[name] = entry
    folder = os.environ.get("SOLARCNN_RESULTS_DIR")
    if folder:
        path = Path(folder) / f"{nb}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = entry
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))
    if verbose:
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"[recorded] {nb} · {name} = {shown}{(' ' + unit) if unit else ''}")


def keras_backend() -> str | None:
    """The Keras backend of this process (``"tensorflow"``, ``"jax"``, ``"torch"``), None if Keras cannot load."""
    try:
        import keras
    except Exception:                    # a broken install must not stop a metric being recorded
        return None
    return keras.backend.backend()


def recorded(notebook: str | None = None) -> dict:
    """The metrics recorded in this process (for one notebook, or all)."""
    if notebook is None:
        return {k: dict(v) for k, v in _MEMORY.items()}
    return dict(_MEMORY.get(notebook, {}))


def headline_metric(metrics: dict) -> tuple[str, dict] | None:
    """The headline of one notebook's metrics (``{name: entry}`` as in ``<notebook>.json``): the metric
    recorded with ``headline=True`` (the last such), else the first one recorded; None if there are none.
    The data's provenance (`PROVENANCE`) is a headline only when nothing else was recorded."""
    metrics = {n: e for n, e in metrics.items() if n not in PROVENANCE} or metrics
    if not metrics:
        return None
    flagged = [(e.get("time", 0), n) for n, e in metrics.items() if e.get("headline")]
    if flagged:
        name = max(flagged)[1]
    else:
        name = min((e.get("time", 0), n) for n, e in metrics.items())[1]
    return name, metrics[name]


def _write_text_atomic(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def collect(metrics_dir: str | os.PathLike, durations: dict | None = None) -> list[dict]:
    """Read every ``<notebook>.json`` under `metrics_dir` into table rows.

    Per notebook: ``wall_time`` (from `durations`), ``keras_backend`` (the backend `record` saw when the
    notebook recorded its metrics), then the metrics by name.
    """
    rows = []
    durations = durations or {}
    for path in sorted(Path(metrics_dir).glob("*.json")):
        nb = path.stem
        entries = json.loads(path.read_text())
        for name, entry in sorted(entries.items()):
            rows.append({"notebook": nb, "metric": name, "value": entry["value"], "unit": entry.get("unit", ""),
                         "description": entry.get("description", "")})
        backends = sorted({e["backend"] for e in entries.values() if e.get("backend")})
        if backends:                      # one row per notebook; two names would mean a mixed run
            rows.append({"notebook": nb, "metric": "keras_backend", "value": ", ".join(backends), "unit": "",
                         "description": "Keras backend the metrics were computed on"})
    for nb, seconds in sorted(durations.items()):
        rows.append({"notebook": nb, "metric": "wall_time", "value": round(seconds, 1), "unit": "s",
                     "description": "notebook execution time"})
    first = {"wall_time": 0, "keras_backend": 1}
    rows.sort(key=lambda r: (r["notebook"], first.get(r["metric"], 2), r["metric"]))
    return rows


def write_table(rows: list[dict], folder: str | os.PathLike, *, header: str = "") -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into `folder` (each atomically); return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jpath, mpath = folder / "results.json", folder / "results.md"
    _write_text_atomic(jpath, json.dumps(rows, indent=1))
    lines = [header.rstrip() + "\n"] if header else []
    lines += ["| notebook | metric | value | unit | description |", "|---|---|---|---|---|"]
    def cell(text) -> str:               # a '|' inside a cell would split it: escape it
        return str(text).replace("|", "\\|")

    for r in rows:
        v = r["value"]
        shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append("| " + " | ".join(cell(c) for c in (r["notebook"], r["metric"], shown, r["unit"],
                                                          r["description"])) + " |")
    _write_text_atomic(mpath, "\n".join(lines) + "\n")
    return jpath, mpath
