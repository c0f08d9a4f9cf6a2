"""Student and instructor editions of the notebooks, from the one source in ``notebooks/``.

- **instructor** (today's notebooks): every solution cell (tagged ``solution``) is kept with its outputs and
  tagged ``hide-cell``, so the book folds the code *and* what it printed or plotted behind one click.
- **student**: every solution cell becomes a stub — ``# Exercise NN.k: your code here`` and one line
  ``name = None`` per name the exercise's check cell needs (the names the solution defined and the check
  takes, with what each must hold) — and its outputs are dropped; the check cells (tagged
  ``exercise-check``) lose their outputs too, so the edition shows no solution code and no solution result.
  A learner who runs the check cell on the stub is told what is still to do (`solarcnn.exercises.check`).

CLI: ``solarcnn notebooks --edition student OUT`` (from ``notebooks/``, or ``--from`` a run folder of
executed notebooks) and ``solarcnn book --edition student|instructor``.
"""
from __future__ import annotations

import ast
import copy
import json
import os
import re
from pathlib import Path

from ..errors import DataFileError

EDITIONS = ("instructor", "student")
SOLUTION_TAG = "solution"
CHECK_TAG = "exercise-check"
STUB_TAG = "exercise-stub"
_CHECK_RE = re.compile(r'solarcnn\.exercises\.check\(\s*["\'](\d\d\.\d+)["\']')


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def _set_tags(cell: dict, tags: list[str]) -> None:
    cell.setdefault("metadata", {})["tags"] = tags


def _assigned(source: str) -> set[str]:
    """Names a cell binds at any level (assignments, for targets, imports, defs)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def check_call(source: str) -> tuple[str, dict[str, str]] | None:
    """``(exercise_id, {keyword: variable name})`` of the ``solarcnn.exercises.check(...)`` call in a cell.

    Only keywords whose value is a plain name are listed (those are what a stub can define).
    """
    m = _CHECK_RE.search(source)
    if not m:
        return None
    names: dict[str, str] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return m.group(1), names
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "check":
            for kw in node.keywords:
                if kw.arg and isinstance(kw.value, ast.Name):
                    names[kw.arg] = kw.value.id
    return m.group(1), names


def stub_source(exercise_id: str, needed: dict[str, str]) -> str:
    """The student's cell: the exercise, 'your code here', and ``name = None`` for each name the check takes.

    Args:
        exercise_id: ``"NN.k"``.
        needed: keyword of the check -> the variable name the notebook's check cell passes for it.
    """
    from .exercises import EXERCISES

    spec = EXERCISES.get(exercise_id)
    described = {**spec.answers, **spec.inputs} if spec else {}
    lines = [f"# Exercise {exercise_id}: your code here.",
             "# Then set these names (the check in the next cell reads them):"]
    for kw, var in needed.items():
        what = described.get(kw, kw)
        lines.append(f"{var} = None   # {what}" if var == kw else f"{var} = None   # ({kw}) {what}")
    return "\n".join(lines)


def _clear(cell: dict) -> None:
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    cell.get("metadata", {}).pop("papermill", None)
    cell.get("metadata", {}).pop("execution", None)


def student_notebook(nb: dict, path: str | os.PathLike = "<notebook>") -> dict:
    """A copy of `nb` with every solution replaced by a stub and no solution output (see the module docstring).

    Raises:
        DataFileError: a solution cell has no check cell after it, or a check cell's exercise is unknown.
    """
    nb = copy.deepcopy(nb)
    cells = nb.get("cells", [])
    solution_names: set[str] = set()
    for cell in cells:
        if SOLUTION_TAG in _tags(cell):
            solution_names |= _assigned(_source(cell))
    out, pending = [], []
    for i, cell in enumerate(cells):
        tags = _tags(cell)
        if SOLUTION_TAG in tags:
            pending.append(cell)
            continue
        if CHECK_TAG in tags:
            call = check_call(_source(cell))
            if call is None:
                raise DataFileError(path, f"cell {i} is tagged {CHECK_TAG!r} but calls no "
                                          f"solarcnn.exercises.check('NN.k', ...)")
            ex_id, kwargs = call
            needed = {kw: var for kw, var in kwargs.items() if var in solution_names}
            if pending:
                stub = pending[0]
                stub["source"] = stub_source(ex_id, needed)
                _clear(stub)
                _set_tags(stub, [t for t in _tags(stub) if t not in (SOLUTION_TAG, "hide-input", "hide-cell",
                                                                     "hide-output")] + [STUB_TAG])
                stub["metadata"]["exercise"] = ex_id
                out.append(stub)
                pending = []
            _clear(cell)
            out.append(cell)
            continue
        if pending:
            raise DataFileError(path, f"cell {i}: the solution before it has no {CHECK_TAG!r} cell after it; "
                                      f"every exercise ends with a check (CONTRIBUTING.md, notebook rule 6)")
        out.append(cell)
    if pending:
        raise DataFileError(path, "the last solution cell has no check cell after it")
    nb["cells"] = out
    nb.setdefault("metadata", {}).setdefault("solarcnn", {})["edition"] = "student"
    return nb


def instructor_notebook(nb: dict, path: str | os.PathLike = "<notebook>") -> dict:
    """A copy of `nb` whose solution cells are tagged ``hide-cell`` (code and outputs folded in the book)."""
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        tags = _tags(cell)
        if SOLUTION_TAG in tags:
            _set_tags(cell, [t for t in tags if t not in ("hide-input", "hide-output")]
                      + ([] if "hide-cell" in tags else ["hide-cell"]))
    nb.setdefault("metadata", {}).setdefault("solarcnn", {})["edition"] = "instructor"
    return nb


def apply(nb: dict, edition: str, path: str | os.PathLike = "<notebook>") -> dict:
    """The notebook in `edition` (``"instructor"`` or ``"student"``), as a new dict."""
    if edition == "student":
        return student_notebook(nb, path)
    if edition == "instructor":
        return instructor_notebook(nb, path)
    raise ValueError(f"edition must be one of {EDITIONS}; received {edition!r}")


def solution_leaks(student: dict, source: dict) -> list[str]:
    """What of the source's solutions is still in a student notebook (empty list: nothing).

    Looks for solution cells, outputs of stubs and check cells, and any line of solution code (ignoring
    blank lines, comments, lines shorter than 12 characters and lines the lesson's own code cells share)
    anywhere in the student notebook's code.
    """
    problems = []
    code = "\n".join(_source(c) for c in student.get("cells", []) if c.get("cell_type") == "code")
    code_lines = {ln.strip() for ln in code.splitlines()}
    for i, cell in enumerate(student.get("cells", [])):
        tags = _tags(cell)
        if SOLUTION_TAG in tags:
            problems.append(f"cell {i} is still tagged {SOLUTION_TAG!r}")
        if (STUB_TAG in tags or CHECK_TAG in tags) and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {i} ({'stub' if STUB_TAG in tags else 'check'}) keeps outputs")
    lesson = {ln.strip() for c in source.get("cells", []) if c.get("cell_type") == "code"
              and SOLUTION_TAG not in _tags(c) for ln in _source(c).splitlines()}   # shared with the lesson: fine
    for cell in source.get("cells", []):
        if SOLUTION_TAG not in _tags(cell):
            continue
        for ln in _source(cell).splitlines():
            s = ln.strip()
            if len(s) >= 12 and not s.startswith("#") and s in code_lines and s not in lesson:
                problems.append(f"solution line still present: {s[:80]!r}")
    return problems


def read_notebook(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(path, f"not a readable notebook ({exc})") from None


def write_edition(out_dir: str | os.PathLike, edition: str, *, source: str | os.PathLike | None = None) -> list[Path]:
    """Write every numbered notebook of `source` (default the checkout's ``notebooks/``) in `edition` to `out_dir`.

    Args:
        out_dir: the folder to write (created); it must not be the source folder.
        edition: ``"student"`` or ``"instructor"``.
        source: a folder of ``NN_slug.ipynb`` files (the sources, or a run folder of executed copies).

    Returns:
        The written paths, in number order.
    """
    from ..utils import repo_root
    from .runner import NOTEBOOK_RE

    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}; received {edition!r}")
    src = Path(source) if source else repo_root("notebooks") / "notebooks"
    out = Path(out_dir)
    if not src.is_dir():
        raise DataFileError(src, "the notebook folder does not exist")
    if out.resolve() == src.resolve():
        raise DataFileError(out, "the output folder is the source folder; an edition never overwrites the sources")
    files = sorted(p for p in src.iterdir() if NOTEBOOK_RE.match(p.name))
    if not files:
        raise DataFileError(src, "no numbered notebooks (NN_slug.ipynb) in the folder")
    converted = [(p, apply(read_notebook(p), edition, p)) for p in files]   # all converted before any write
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p, nb in converted:
        dest = out / p.name
        tmp = dest.with_suffix(".ipynb.tmp")
        tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, dest)
        written.append(dest)
    return written


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "notebooks", help="write the student or instructor edition of the notebooks",
        description="Write every numbered notebook in one edition. student: solution cells become stubs "
                    "('# your code here' and the names the check cell needs), without solution outputs; "
                    "instructor: solutions kept and folded with their outputs (tag hide-cell).")
    p.add_argument("out", help="output folder (not the source folder)")
    p.add_argument("--edition", choices=EDITIONS, default="student")
    p.add_argument("--from", dest="source", default=None,
                   help="folder of NN_slug.ipynb to convert (default: the checkout's notebooks/)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    written = write_edition(args.out, args.edition, source=args.source)
    print(f"{args.edition} edition: {len(written)} notebooks in {Path(args.out)}")
    return 0
