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
           verbose: bool = True, headline: bool = False, ci: tuple | None = None, baseline=None) -> None:
    """Record one metric for the results table.

    With ``ci=(low, high)`` two more metrics are recorded beside it, ``<name>_ci_low`` and
    ``<name>_ci_high`` (its interval, e.g. from `solarcnn.metrics.bootstrap_ci`); with ``baseline=``
    one more, ``baseline_<name>`` (the same score of a baseline on the same samples). The results
    table shows them in the metric's row.

    Args:
        name: a short key, e.g. ``"val_accuracy"``.
        value: a number (NumPy and Keras scalars are accepted), bool or string.
        unit: e.g. ``"s"`` or ``"samples/s"``; empty for ratios and scores.
        description: a few words for the table.
        notebook: defaults to the name given to `solarcnn.setup`.
        verbose: print the recorded value.
        headline: this is the notebook's headline metric, the one ``solarcnn run`` prints beside the
            notebook's time (without any, the first metric the notebook recorded is its headline).
        ci: ``(low, high)``, the metric's uncertainty interval (``low <= value <= high`` is not required:
            a bootstrap interval need not contain the point estimate, but ``low <= high`` is; ``(nan, nan)``
            records that no interval could be computed, as `bootstrap_ci` returns for too small a set).
        baseline: the baseline's score on the same samples (a number).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"solarcnn.record: name must be a non-empty string; received {name!r}")
    if ci is not None:
        try:
            low, high = (float(_clean(c)) for c in ci)
        except (TypeError, ValueError):
            raise ValueError(f"solarcnn.record: ci must be a pair (low, high) of numbers; received {ci!r}") from None
        if not (low <= high or (math.isnan(low) and math.isnan(high))):   # (nan, nan): no interval could be made
            raise ValueError(f"solarcnn.record: ci must have low <= high; received {ci!r}")
        record(f"{name}_ci_low", low, unit=unit, description=f"lower end of the interval of {name}",
               notebook=notebook, verbose=False)
        record(f"{name}_ci_high", high, unit=unit, description=f"upper end of the interval of {name}",
               notebook=notebook, verbose=False)
    if baseline is not None:
        if isinstance(_clean(baseline), (str, bool)) or _clean(baseline) is None:
            raise ValueError(f"solarcnn.record: baseline must be a number; received {baseline!r}")
        record(f"baseline_{name}", baseline, unit=unit, description=f"baseline's {name} on the same samples",
               notebook=notebook, verbose=False)
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
        extra = f" [{float(ci[0]):.4g}, {float(ci[1]):.4g}]" if ci is not None else ""
        extra += f" (baseline {float(_clean(baseline)):.4g})" if baseline is not None else ""
        print(f"[recorded] {nb} · {name} = {shown}{(' ' + unit) if unit else ''}{extra}")


def say(template: str, *, notebook: str | None = None, **values) -> str:
    """Prose with the run's own numbers: format `template` and show it as Markdown.

    A lesson's sentence that quotes a result ("the leaky split scores 0.97, the honest one 0.81") must
    not be typed into a Markdown cell, where it goes stale as soon as the data or the seed change.
    Write it as ``solarcnn.say("the leaky split scores {leaky_accuracy:.2f} ...")`` in a code cell
    (tagged ``remove-input`` so that the book shows only the sentence): the names are the metrics this
    notebook recorded (`record`) and any keyword arguments, which take precedence.

    Args:
        template: Markdown with ``str.format`` fields, e.g. ``"{val_accuracy:.1%}"``.
        notebook: whose recorded metrics to use (default: the one given to `solarcnn.setup`).
        **values: more values for the fields.

    Returns:
        The formatted text (also displayed as Markdown in a notebook, printed elsewhere).
    """
    nb = notebook or current_notebook() or "interactive"
    names = {k: e["value"] for k, e in _MEMORY.get(nb, {}).items()}
    names.update(values)
    try:
        text = template.format(**names)
    except KeyError as err:
        raise KeyError(f"solarcnn.say: {err.args[0]!r} is neither a metric recorded by {nb} nor a keyword; "
                       f"recorded: {sorted(_MEMORY.get(nb, {}))}") from None
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and type(shell).__name__ != "TerminalInteractiveShell":
        display(Markdown(text))
    else:
        print(text)
    return text


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
    lines += ["| notebook | metric | value | interval | baseline | unit | description |",
              "|---|---|---|---|---|---|---|"]
    def cell(text) -> str:               # a '|' inside a cell would split it: escape it
        return str(text).replace("|", "\\|")

    def fmt(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    by_key = {(r["notebook"], r["metric"]): r["value"] for r in rows}
    for r in rows:
        nb, metric = r["notebook"], r["metric"]
        base = (metric[:-len("_ci_low")] if metric.endswith("_ci_low") else
                metric[:-len("_ci_high")] if metric.endswith("_ci_high") else
                metric[len("baseline_"):] if metric.startswith("baseline_") else None)
        if base is not None and (nb, base) in by_key:
            continue                      # an interval end or a baseline: shown in its metric's row
        low, high = by_key.get((nb, f"{metric}_ci_low")), by_key.get((nb, f"{metric}_ci_high"))
        interval = f"[{fmt(low)}, {fmt(high)}]" if low is not None and high is not None else ""
        baseline = by_key.get((nb, f"baseline_{metric}"))
        lines.append("| " + " | ".join(cell(c) for c in (nb, metric, fmt(r["value"]), interval,
                                                          "" if baseline is None else fmt(baseline),
                                                          r["unit"], r["description"])) + " |")
    _write_text_atomic(mpath, "\n".join(lines) + "\n")
    return jpath, mpath
