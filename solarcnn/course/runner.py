"""Run the numbered notebooks with papermill and collect their results.

Python API::

    from solarcnn.course.runner import run_notebooks
    run_notebooks(["02"], profile="tiny", parameters={"epochs": 3})

CLI: ``solarcnn run 02 --profile tiny -p epochs 3`` or ``solarcnn run --all``.

Each executed copy goes into the run folder (``runs/<profile>/`` by default)
with the same name; the metrics each notebook records with `solarcnn.record`
are collected into ``results.json`` and ``results.md`` there. Unlike plain
papermill (which only warns), a parameter the notebook does not declare, or an
unknown profile, stops the run before anything executes.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError, SolarCNNError
from ..profiles import PROFILES, check_profile
from ..utils import course_folder, parse_value, repo_root  # noqa: F401  (parse_value, repo_root: kept for callers)

NOTEBOOK_RE = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
KERNEL_NAME = "python3"


def notebook_dir() -> Path:
    """The checkout's ``notebooks/`` (editable install), else the copy packaged into the installed wheel."""
    return course_folder("notebooks")


def default_run_dir(profile: str) -> Path:
    """``runs/<profile>`` in the checkout (editable install), else in the current folder."""
    try:
        root = repo_root("notebooks")
    except SolarCNNError:
        root = Path.cwd()
    return root / "runs" / profile


def list_notebooks(folder: Path | None = None) -> list[Path]:
    """The numbered notebooks ``NN_slug.ipynb``, in number order."""
    folder = Path(folder) if folder else notebook_dir()
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


def resolve(selector: str, folder: Path | None = None) -> Path:
    """Find a notebook by number (``"2"``, ``"02"``), slug or name."""
    notebooks = list_notebooks(folder)
    sel = selector.strip()
    if sel.endswith(".ipynb"):
        sel = Path(sel).stem
    if sel.isdigit():
        matches = [p for p in notebooks if p.name.startswith(f"{int(sel):02d}_")]
    else:
        matches = [p for p in notebooks if p.stem == sel or p.stem[3:] == sel]
    if len(matches) != 1:
        names = ", ".join(p.stem for p in notebooks)
        raise ParameterError(f"no notebook matches {selector!r}; the notebooks are: {names}")
    return matches[0]


def declared_parameters(path: Path) -> dict:
    """The variables of the notebook's ``parameters`` cell, with their defaults (as papermill sees them)."""
    import papermill as pm

    info = pm.inspect_notebook(str(path))
    if not info:
        import nbformat

        nb = nbformat.read(str(path), as_version=4)
        if not any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
            raise ParameterError(f"{path}: has no cell tagged 'parameters'; papermill could not set parameters")
    return {k: v.get("default") for k, v in info.items()}


def check_parameters(path: Path, parameters: dict) -> None:
    """Raise `ParameterError` for any parameter the notebook does not declare."""
    declared = declared_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(f"{path.name}: unknown parameter(s) {unknown}; "
                             f"this notebook declares {sorted(declared)}")


@dataclass
class RunResult:
    run_dir: Path
    executed: list[Path] = field(default_factory=list)
    durations: dict = field(default_factory=dict)
    failed: str | None = None
    results_json: Path | None = None
    results_md: Path | None = None


def run_notebooks(selectors: list[str] | None = None, *, profile: str = "tiny", parameters: dict | None = None,
                  run_dir: str | os.PathLike | None = None, kernel: str = KERNEL_NAME, cell_timeout: int = 1200,
                  progress: bool = True, log_output: bool = False, stop_on_error: bool = True,
                  notebooks_dir: str | os.PathLike | None = None) -> RunResult:
    """Execute notebooks in number order into a run folder and collect their metrics.

    Args:
        selectors: notebook numbers or names; None or empty means all of them.
        profile: a profile of `solarcnn.profiles.PROFILES`.
        parameters: extra papermill parameters, applied to every selected notebook
            (each must be declared by every selected notebook).
        run_dir: output folder; default ``runs/<profile>`` in the checkout (in the current folder
            when the package is an installed wheel).
        kernel: the Jupyter kernel name.
        cell_timeout: seconds one cell may take.
        progress: papermill's cell progress bar.
        log_output: stream the notebooks' output to this terminal.
        stop_on_error: stop at the first failing notebook (its executed copy, with the
            error in it, is kept in the run folder).
        notebooks_dir: where the notebooks are (default: the checkout's ``notebooks/``, or the copy
            packaged into an installed wheel).
    """
    import papermill as pm

    from ..results import collect, write_table

    check_profile(profile)
    parameters = dict(parameters or {})
    if "PROFILE" in parameters:
        raise ParameterError("set the profile with profile=... (--profile), not as a parameter")
    folder = Path(notebooks_dir) if notebooks_dir else notebook_dir()
    notebooks = [resolve(s, folder) for s in selectors] if selectors else list_notebooks(folder)
    if not notebooks:
        raise ParameterError(f"no numbered notebooks found in {folder}")
    for nb in notebooks:                      # check everything before running anything
        check_parameters(nb, {**parameters, "PROFILE": profile})
    run_dir = Path(run_dir) if run_dir else default_run_dir(profile)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_dir, work = run_dir / "metrics", run_dir / "work"
    metrics_dir.mkdir(exist_ok=True)
    result = RunResult(run_dir=run_dir)
    durations_file = run_dir / "durations.json"
    durations = json.loads(durations_file.read_text()) if durations_file.exists() else {}
    env_backup = {k: os.environ.get(k) for k in ("SOLARCNN_RESULTS_DIR", "SOLARCNN_WORKDIR", "SOLARCNN_NOTEBOOK")}
    os.environ["SOLARCNN_RESULTS_DIR"] = str(metrics_dir.resolve())
    os.environ["SOLARCNN_WORKDIR"] = str(work.resolve())
    try:
        for i, nb in enumerate(notebooks, 1):
            out = run_dir / nb.name
            os.environ["SOLARCNN_NOTEBOOK"] = nb.stem
            (metrics_dir / f"{nb.stem}.json").unlink(missing_ok=True)
            print(f"[{i}/{len(notebooks)}] {nb.stem} (profile {profile}) ...", flush=True)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(str(nb), str(out), parameters={"PROFILE": profile, **parameters},
                                    kernel_name=kernel, cwd=str(nb.parent), progress_bar=progress,
                                    log_output=log_output, execution_timeout=cell_timeout)
            except Exception as exc:
                durations[nb.stem] = time.perf_counter() - t0
                result.failed = nb.stem
                print(f"[{i}/{len(notebooks)}] {nb.stem} FAILED after {durations[nb.stem]:.0f} s: "
                      f"{type(exc).__name__}; see the executed copy {out}", file=sys.stderr, flush=True)
                if stop_on_error:
                    raise
                continue
            finally:
                result.executed.append(out)
            durations[nb.stem] = time.perf_counter() - t0
            print(f"[{i}/{len(notebooks)}] {nb.stem} done in {durations[nb.stem]:.0f} s -> {out}", flush=True)
    finally:
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        durations_file.write_text(json.dumps(durations, indent=1, sort_keys=True))
        result.durations = durations
        rows = collect(metrics_dir, durations)
        header = (f"# Results of the `{profile}` profile\n\nProfile: {PROFILES[profile].hardware} — "
                  f"{PROFILES[profile].description}. Generated by `solarcnn run`.\n")
        result.results_json, result.results_md = write_table(rows, run_dir, header=header)
    return result


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="execute notebooks with papermill into a run folder",
                              description="Execute numbered notebooks (all with --all) in a profile; "
                                          "collect their metrics into results.json / results.md.")
    p.add_argument("notebooks", nargs="*", help="numbers or names, e.g. 02 or 02_slic_feature_classifier")
    p.add_argument("--all", action="store_true", help="run every numbered notebook in order")
    p.add_argument("--profile", default="tiny", help=f"one of {sorted(PROFILES)} (default tiny)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a notebook parameter (repeatable); VALUE is parsed as YAML")
    p.add_argument("--run-dir", default=None, help="output folder (default runs/<profile>)")
    p.add_argument("--kernel", default=KERNEL_NAME)
    p.add_argument("--cell-timeout", type=int, default=1200, help="seconds per cell (default 1200)")
    p.add_argument("--log-output", action="store_true", help="stream notebook output here")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--keep-going", action="store_true", help="continue after a failing notebook")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    if bool(args.notebooks) == bool(args.all):
        raise ParameterError("name notebooks to run, or --all (not both)")
    params = {name: parse_value(value) for name, value in args.parameter}
    res = run_notebooks(None if args.all else args.notebooks, profile=args.profile, parameters=params,
                        run_dir=args.run_dir, kernel=args.kernel, cell_timeout=args.cell_timeout,
                        progress=not args.no_progress, log_output=args.log_output,
                        stop_on_error=not args.keep_going)
    print(f"\nExecuted notebooks: {res.run_dir}")
    print(f"Results table:      {res.results_md}")
    return 1 if res.failed else 0
