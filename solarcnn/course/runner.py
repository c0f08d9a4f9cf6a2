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

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError, SolarCNNError
from ..profiles import PROFILES, check_profile
from ..utils import atomic_write_text, course_folder, parse_value, repo_root  # noqa: F401  (parse_value, repo_root: kept for callers)

NOTEBOOK_RE = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
KERNEL_NAME = "solarcnn"          # the course's named kernel (tools/setup.sh installs it into .venv)
FALLBACK_KERNEL = "python3"


def resolve_kernel(kernel: str = KERNEL_NAME) -> str:
    """The kernel to run notebooks with: `kernel`, or ``python3`` with a warning when the course's kernel is missing.

    A machine set up by ``tools/setup.sh`` has the named kernel ``solarcnn``; a plain ``pip install`` has only
    ``python3`` (this environment's ipykernel). Another missing kernel is an error naming it.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
        return kernel
    except NoSuchKernel:
        if kernel != KERNEL_NAME:
            raise ParameterError(f"no Jupyter kernel named {kernel!r} is installed (jupyter kernelspec list)") from None
    import warnings

    warnings.warn(f"the course's Jupyter kernel {KERNEL_NAME!r} is not installed; running with {FALLBACK_KERNEL!r} "
                  f"(install it: bash tools/setup.sh, or python -m ipykernel install --sys-prefix --name {KERNEL_NAME} "
                  f"--display-name 'Python (solarcnn)'; solarcnn doctor checks it)", stacklevel=2)
    return FALLBACK_KERNEL


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
    """The variables of the notebook's ``parameters`` cell, with their defaults.

    The cell is parsed with `ast` (papermill's own line parser refuses lines such as
    ``width_multiplier = None  # filters x this (1.0 = paper)``): every top-level
    ``name = value`` (or ``name: type = value``) is a parameter; its default is the value when it is
    a literal, else None.

    Raises:
        ParameterError: no cell is tagged ``parameters``, or the cell is not valid Python.
    """
    import ast

    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ParameterError(f"{path}: has no cell tagged 'parameters'; papermill could not set parameters")
    source = cells[0].source if isinstance(cells[0].source, str) else "".join(cells[0].source)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{path}: the parameters cell is not valid Python "
                             f"(line {exc.lineno}: {exc.msg})") from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            default = None
        for target in targets:
            if isinstance(target, ast.Name):
                out[target.id] = default
    return out


def check_parameters(path: Path, parameters: dict) -> dict:
    """Check parameters for a notebook before anything runs; return them checked.

    A parameter must be declared in the notebook's parameters cell; one that is a setting of the
    notebook's profile file (``solarcnn/profiles/<notebook>.toml``) must have the type (and range)
    of its profile values (`solarcnn.profiles.check_value`), any other one the type of its default
    in the cell (e.g. ``seed = 42``: an int). An int for a float setting comes back as a float.

    Raises:
        ParameterError: naming the notebook, the parameter, the received value and what is expected.
    """
    from .. import profiles

    declared = declared_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(f"{path.name}: unknown parameter(s) {unknown}; "
                             f"this notebook declares {sorted(declared)}")
    settings = profiles.table(path.stem) if profiles.notebook_file(path.stem).exists() else {}
    out = {}
    for key, value in parameters.items():
        if key == "PROFILE":
            check_profile(value)
            out[key] = value
        elif value is None:
            out[key] = None
        elif settings and key in settings[next(iter(settings))]:
            out[key] = profiles.check_value(path.stem, key, value, [settings[p][key] for p in sorted(settings)])
        elif declared[key] is not None:
            out[key] = profiles.check_value(path.stem, key, value, [declared[key]])
        else:
            out[key] = value
    return out


@dataclass
class RunResult:
    run_dir: Path
    executed: list[Path] = field(default_factory=list)
    durations: dict = field(default_factory=dict)
    failed: str | None = None
    results_json: Path | None = None
    results_md: Path | None = None
    failures: list[str] = field(default_factory=list)
    log_file: Path | None = None


def run_notebooks(selectors: list[str] | None = None, *, profile: str = "tiny", parameters: dict | None = None,
                  run_dir: str | os.PathLike | None = None, kernel: str = KERNEL_NAME, cell_timeout: int = 1200,
                  progress: bool = True, log_output: bool = False, stop_on_error: bool = True,
                  notebooks_dir: str | os.PathLike | None = None, smoke: bool = False) -> RunResult:
    """Execute notebooks in number order into a run folder and collect their metrics.

    Args:
        selectors: notebook numbers or names; None or empty means all of them.
        profile: a profile of `solarcnn.profiles.PROFILES`.
        parameters: extra papermill parameters, applied to every selected notebook
            (each must be declared by every selected notebook).
        run_dir: output folder; default ``runs/<profile>`` in the checkout (in the current folder
            when the package is an installed wheel).
        kernel: the Jupyter kernel name (default the course's ``solarcnn``; ``python3`` with a warning
            when that is not installed, see `resolve_kernel`).
        cell_timeout: seconds one cell may take.
        progress: papermill's cell progress bar (drawn only when stderr is a terminal).
        log_output: stream the notebooks' output to this terminal.
        stop_on_error: stop at the first failing notebook with a `NotebookExecutionError`; else
            go on with the next one (the failures are in ``RunResult.failures``). Either way the
            failing notebook's executed copy, with the full traceback, is kept in ``failed/`` of
            the run folder, and its previous good result (executed copy, metrics) stays.
        notebooks_dir: where the notebooks are (default: the checkout's ``notebooks/``, or the copy
            packaged into an installed wheel).
        smoke: the paper-size smoke (full profile only): each notebook's ``[smoke]`` settings of its profile
            file (`solarcnn.profiles.smoke_overrides`: the paper's sizes, 1 epoch, a few steps and samples,
            synthetic data) under `parameters`; default run folder ``runs/full-smoke``.

    Every notebook executes into a staging folder inside the run folder; only a notebook that
    finishes replaces its previous executed copy and metrics there (atomic renames), so a failed or
    killed run never removes the last good result. ``results.json``, ``results.md`` and
    ``durations.json`` are rewritten atomically. Output of the kernels and of the frameworks
    (TensorFlow's C++ log, jupyter's and papermill's warnings) goes to ``run.log`` in the run
    folder (unless `log_output`); this terminal gets one line per notebook, with its time and
    headline metric (`headline`).

    Returns:
        A `RunResult`; its ``durations`` are this run's (``durations.json`` keeps the last good ones).

    Raises:
        ParameterError: an unknown notebook, profile or parameter, or a parameter of the wrong type or
            range (`check_parameters`) — before anything executes.
        NotebookExecutionError: a notebook failed (with `stop_on_error`): the notebook, the cell, the
            error, and where the executed copy with the full traceback is.
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
    from .. import profiles

    if smoke and profile != "full":
        raise ParameterError(f"--smoke runs the full profile at the paper's sizes for a few steps; received "
                             f"profile {profile!r}")
    smoke_of = {nb: profiles.smoke_overrides(nb.stem) if smoke else {} for nb in notebooks}
    checked = {nb: check_parameters(nb, {"PROFILE": profile, **smoke_of[nb], **parameters})   # before anything runs
               for nb in notebooks}

    for nb in notebooks:   # a profile that needs the user's folder (data_dir) stops here, before anything runs
        if profiles.notebook_file(nb.stem).exists() and "data_dir" in profiles.table(nb.stem)[profile]:
            profiles.check_data_dir(nb.stem, profile, checked[nb].get("data_dir"))
    kernel = resolve_kernel(kernel)
    run_dir = Path(run_dir) if run_dir else default_run_dir(profile + ("-smoke" if smoke else ""))
    if run_dir.exists() and not run_dir.is_dir():
        raise ParameterError(f"{run_dir}: the run folder exists and is not a folder; give another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_dir, work, failed_dir = run_dir / "metrics", run_dir / "work", run_dir / "failed"
    metrics_dir.mkdir(exist_ok=True)
    result = RunResult(run_dir=run_dir, log_file=run_dir / LOG_NAME)
    durations_file = run_dir / "durations.json"
    durations = json.loads(durations_file.read_text()) if durations_file.exists() else {}
    env_backup = {k: os.environ.get(k) for k in ("SOLARCNN_RESULTS_DIR", "SOLARCNN_WORKDIR", "SOLARCNN_NOTEBOOK")}
    os.environ["SOLARCNN_WORKDIR"] = str(work.resolve())
    terminal = sys.stdout
    on_tty = _isatty(terminal)
    show_bar = progress and _isatty(sys.stderr)      # papermill's cell bar: on a terminal only
    try:
        for i, nb in enumerate(notebooks, 1):
            tag = f"[{i}/{len(notebooks)}] {nb.stem}"
            out = run_dir / nb.name
            _remove_stale_staging(run_dir, nb.stem)
            stage = Path(tempfile.mkdtemp(prefix=f".{nb.stem}.run-{os.getpid()}-", dir=run_dir))
            staged_nb, staged_metrics = stage / nb.name, stage / "metrics"
            os.environ["SOLARCNN_RESULTS_DIR"] = str(staged_metrics.resolve())
            os.environ["SOLARCNN_NOTEBOOK"] = nb.stem
            if on_tty and not show_bar:
                print(f"{tag} ...", end="", file=terminal, flush=True)
            t0 = time.perf_counter()
            try:
                with _framework_output_to(result.log_file, f"{nb.stem} (profile {profile})", enabled=not log_output):
                    bar = {"file": _terminal_stderr(), "leave": False, "desc": tag} if show_bar else False
                    pm.execute_notebook(str(nb), str(staged_nb), parameters=checked[nb], kernel_name=kernel,
                                        cwd=str(nb.parent), progress_bar=bar, log_output=log_output,
                                        execution_timeout=cell_timeout)
            except BaseException as exc:
                seconds = time.perf_counter() - t0
                result.durations[nb.stem] = seconds
                result.failed = result.failed or nb.stem
                result.failures.append(nb.stem)
                kept = None
                if staged_nb.exists():                # the executed copy with the error, for the student
                    failed_dir.mkdir(exist_ok=True)
                    kept = failed_dir / nb.name
                    os.replace(staged_nb, kept)
                shutil.rmtree(stage, ignore_errors=True)
                print(("\r" if on_tty else "") + f"{tag} FAILED after {seconds:.0f} s", file=terminal, flush=True)
                error = NotebookExecutionError.from_exception(nb.stem, exc, kept, out if out.exists() else None,
                                                             result.log_file)
                if not isinstance(exc, Exception):   # Ctrl-C, SystemExit: as they are
                    raise
                if stop_on_error:
                    raise error from exc
                print(f"solarcnn: error: {error}", file=_terminal_stderr(), flush=True)
                continue
            seconds = time.perf_counter() - t0
            _install_result(stage, staged_nb, staged_metrics, out, metrics_dir, failed_dir, nb)
            durations[nb.stem] = result.durations[nb.stem] = seconds
            result.executed.append(out)
            head = headline(metrics_dir / f"{nb.stem}.json")
            print(("\r" if on_tty else "") + f"{tag} done in {seconds:.0f} s" + (f" · {head}" if head else ""),
                  file=terminal, flush=True)
    finally:
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _write_atomic(durations_file, json.dumps(durations, indent=1, sort_keys=True))
        rows = collect(metrics_dir, durations)
        header = (f"# Results of the `{profile}` profile\n\nProfile: {PROFILES[profile].hardware} — "
                  f"{PROFILES[profile].description}. Generated by `solarcnn run`.\n")
        result.results_json, result.results_md = write_table(rows, run_dir, header=header)
    return result


LOG_NAME = "run.log"


class NotebookExecutionError(SolarCNNError, RuntimeError):
    """A notebook failed under the runner; the message says where (cell), what, and where the full traceback is.

    Attributes:
        notebook: the notebook's name.
        cell: the number of the failing cell (1 = the notebook's first cell), or None.
        executed_copy: the executed copy holding the full traceback, or None.
    """

    def __init__(self, message: str, notebook: str, cell: int | None = None, executed_copy: Path | None = None):
        super().__init__(message)
        self.notebook, self.cell, self.executed_copy = notebook, cell, executed_copy

    @classmethod
    def from_exception(cls, notebook: str, exc: BaseException, executed_copy: Path | None,
                       previous: Path | None, log_file: Path) -> "NotebookExecutionError":
        cell = getattr(exc, "cell_index", None)
        if cell is not None:                # papermill's index in the executed copy, from 0: the
            cell = cell + 1 - _injected_before(executed_copy, cell)   # notebook's own number, from 1
        if getattr(exc, "ename", None):
            what = f"{exc.ename}: {exc.evalue}"
        else:
            what = f"{type(exc).__name__}: {exc}".strip()
        lines = [f"notebook {notebook} failed" + (f" in cell {cell}" if cell else "") + f": {_first_line(what)}"]
        source = getattr(exc, "source", None)
        if source:
            src = source.strip().splitlines()
            lines.append("  cell starts: " + src[0][:100] + (" …" if len(src) > 1 else ""))
        if executed_copy is not None:
            lines.append(f"  full traceback: the executed copy {executed_copy}")
        lines.append(f"  framework log: {log_file}")
        if previous is not None:
            lines.append(f"  the previous result {previous} is kept")
        return cls("\n".join(lines), notebook, cell, executed_copy)


def _injected_before(executed_copy: Path | None, index: int) -> int:
    """How many cells papermill inserted (``injected-parameters``) before cell `index` of the executed copy."""
    if executed_copy is None or not executed_copy.exists():
        return 0
    import nbformat

    try:
        cells = nbformat.read(str(executed_copy), as_version=4).cells
    except Exception:                        # an unreadable copy: papermill's index as it is
        return 0
    # papermill's index counts the cells before it added its error banners
    cells = [c for c in cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])][:index]
    return sum("injected-parameters" in c.metadata.get("tags", []) for c in cells)


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[:limit] + " …"


def headline(metrics_file: Path) -> str:
    """``"name = value unit"`` of a notebook's headline metric: the one recorded with ``headline=True``,
    else the first one it recorded; "" when it recorded none."""
    from ..results import headline_metric

    if not metrics_file.exists():
        return ""
    found = headline_metric(json.loads(metrics_file.read_text()))
    if found is None:
        return ""
    name, entry = found
    v = entry["value"]
    shown = f"{v:.4g}" if isinstance(v, float) else str(v)
    return f"{name} = {shown}" + (f" {entry['unit']}" if entry.get("unit") else "")


def _install_result(stage: Path, staged_nb: Path, staged_metrics: Path, out: Path, metrics_dir: Path,
                    failed_dir: Path, nb: Path) -> None:
    """Swap a finished run's executed copy and metrics in place of the previous ones (each an atomic rename)."""
    new_metrics = staged_metrics / f"{nb.stem}.json"
    old_metrics = metrics_dir / f"{nb.stem}.json"
    if new_metrics.exists():
        os.replace(new_metrics, old_metrics)
    else:                                      # this good run recorded nothing: the old numbers are stale
        old_metrics.unlink(missing_ok=True)
    os.replace(staged_nb, out)
    (failed_dir / nb.name).unlink(missing_ok=True)   # an older failure is no longer the latest word
    shutil.rmtree(stage, ignore_errors=True)


def _remove_stale_staging(run_dir: Path, stem: str) -> None:
    """Remove staging folders of `stem` left by runs that were killed (their process is gone)."""
    for d in run_dir.glob(f".{stem}.run-*"):
        try:
            pid = int(d.name[len(f".{stem}.run-"):].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_atomic(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_TERMINAL_STDERR = None


def _terminal_stderr():
    """A text stream on the terminal's stderr that stays there while fds 1 and 2 go to the log."""
    return _TERMINAL_STDERR or sys.stderr


@contextlib.contextmanager
def _framework_output_to(log_file: Path, title: str, *, enabled: bool = True):
    """Send everything written to file descriptors 1 and 2 meanwhile (the kernels' TensorFlow C++ lines,
    jupyter's and papermill's warnings, asyncio's complaints) to `log_file`, appended under a title."""
    global _TERMINAL_STDERR
    if not enabled:
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError):
            pass
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal_err = os.fdopen(os.dup(saved_err), "w", buffering=1)
    previous, _TERMINAL_STDERR = _TERMINAL_STDERR, terminal_err
    with open(log_file, "ab") as log:
        log.write(f"\n===== {title} · {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError):
                pass
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        _TERMINAL_STDERR = previous
        terminal_err.close()


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
    p.add_argument("--log-output", action="store_true",
                   help="stream notebook output here (else it goes to run.log in the run folder)")
    p.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    p.add_argument("--keep-going", action="store_true", help="continue after a failing notebook")
    p.add_argument("--smoke", action="store_true",
                   help="with --profile full: the paper's sizes for a few steps and samples on synthetic data "
                        "(each profile file's [smoke] table), so the full code path runs on a CPU")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    if bool(args.notebooks) == bool(args.all):
        raise ParameterError("name notebooks to run, or --all (not both)")
    params = {name: parse_value(value) for name, value in args.parameter}
    res = run_notebooks(None if args.all else args.notebooks, profile=args.profile, parameters=params,
                        run_dir=args.run_dir, kernel=args.kernel, cell_timeout=args.cell_timeout,
                        progress=not args.no_progress, log_output=args.log_output,
                        stop_on_error=not args.keep_going, smoke=args.smoke)
    print(f"\nExecuted notebooks: {res.run_dir}")
    print(f"Results table:      {res.results_md}")
    print(f"Framework log:      {res.log_file}")
    if res.failures:
        print(f"solarcnn: error: {len(res.failures)} notebook(s) failed: {', '.join(res.failures)} "
              f"(their executed copies: {res.run_dir / 'failed'})", file=sys.stderr)
    return 1 if res.failures else 0
