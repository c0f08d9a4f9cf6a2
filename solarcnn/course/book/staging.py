"""Staging the book's sources from a run folder, and building the HTML with Jupyter Book."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataFileError
from .. import editions
from ._base import (ASSET_SUFFIXES, NOTEBOOK_RE, RESULTS_HEADER, RESULTS_HEADER_V1, WIDGET_MIME, BookError, _run,
                    book_sources, checkout)
from .env import BookEnv, ensure_env


# Staging
# ---------------------------------------------------------------------------------------------------------------

def find_notebooks(run_dir: str | os.PathLike) -> list[Path]:
    """The executed ``NN_slug.ipynb`` files of a run folder, in number order."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataFileError(run_dir, "the run folder does not exist; execute the notebooks first "
                                     "(solarcnn run --all --profile tiny)")
    found = [p for p in run_dir.iterdir() if p.is_file() and NOTEBOOK_RE.match(p.name)]
    numbers: dict[int, Path] = {}
    for p in sorted(found, key=lambda p: (int(p.name[:2]), p.name)):
        n = int(p.name[:2])
        if n in numbers:
            raise DataFileError(p, f"two notebooks share the number {n:02d} ({numbers[n].name} and {p.name}); "
                                   f"the book's order would be ambiguous")
        numbers[n] = p
    if not numbers:
        raise DataFileError(run_dir, "no executed notebooks (files named NN_slug.ipynb) in the run folder; "
                                     "execute them first (solarcnn run --all --profile tiny)")
    return [numbers[n] for n in sorted(numbers)]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def notebook_title(nb: dict, path: Path) -> str:
    """The H1 of the notebook's first Markdown cell; a `DataFileError` if there is none."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                m = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
                if m:
                    return m.group(1)
                if line.strip():
                    break
            break
    raise DataFileError(path, "the first Markdown cell does not start with a '# Title' line; the book needs it "
                              "as the page title (CONTRIBUTING.md, notebook rule 1)")


def check_notebook(nb: dict, path: Path) -> None:
    """Raise `DataFileError` if the executed notebook must not go into the book."""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise DataFileError(path, "not a Jupyter notebook (no 'cells' list)")
    code = [c for c in cells if c.get("cell_type") == "code"]
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                raise DataFileError(path, f"cell {i} has an error output ({out.get('ename', '?')}: "
                                          f"{str(out.get('evalue', ''))[:200]}); the book shows only notebooks "
                                          f"that ran cleanly — fix the notebook and execute it again")
    if nb.get("metadata", {}).get("papermill", {}).get("exception"):
        raise DataFileError(path, "papermill recorded an exception while executing this notebook; "
                                  "fix it and execute it again")
    if code and not any(c.get("execution_count") for c in code):
        raise DataFileError(path, "no code cell has been executed; the book renders executed notebooks "
                                  "(solarcnn run NN writes them into the run folder)")
    notebook_title(nb, path)


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def prepare_notebook(nb: dict, path: Path, *, injected: str = "show", edition: str = "instructor") -> dict:
    """A copy of the notebook ready for the book (the file itself is not changed).

    - papermill's ``injected-parameters`` cell becomes a Markdown note listing the values
      the run used (``injected="show"``) or is dropped (``"remove"``);
    - the `edition` (`solarcnn.course.editions`): ``"instructor"`` folds each ``solution`` cell
      with its outputs (``hide-cell``, one click to open); ``"student"`` replaces it with a stub
      and drops the solutions' and checks' outputs;
    - widget outputs (tqdm bars) keep only their text form and the widget state is dropped:
      rendering them would load scripts from a CDN.
    """
    if injected not in ("show", "remove"):
        raise ValueError(f"injected must be 'show' or 'remove'; received {injected!r}")
    check_notebook(nb, path)
    nb = editions.apply(nb, edition, path)     # a new dict: the caller's notebook is not changed
    nb.get("metadata", {}).pop("widgets", None)
    cells = []
    for cell in nb["cells"]:
        tags = _tags(cell)
        if "injected-parameters" in tags:
            if injected == "remove":
                continue
            code = _source(cell).strip()
            lines = [ln for ln in code.splitlines() if ln.strip() and ln.strip() != "# Parameters"]
            body = "\n".join(lines) if lines else "# (none)"
            cell = {"cell_type": "markdown", "metadata": {"tags": ["injected-parameters"]},
                    "source": (":::{admonition} Parameters of this run\n:class: note\n"
                               "This page shows the notebook as executed by `solarcnn run`, which set "
                               "these parameters (papermill's injected cell):\n\n"
                               f"```python\n{body}\n```\n:::\n")}
            if "id" in nb["cells"][0]:
                cell["id"] = "injected-parameters-note"
        elif cell.get("cell_type") == "code":
            for out in cell.get("outputs", []) or []:
                data = out.get("data")
                if isinstance(data, dict) and WIDGET_MIME in data:
                    data.pop(WIDGET_MIME)
                    data.setdefault("text/plain", "")
        cells.append(cell)
    nb["cells"] = cells
    return nb


_NB_LINK_RE = re.compile(r"\[([^\]]+)\]\((?:\./)?(\d\d_[A-Za-z0-9_\-]+)\.ipynb(#[^)\s]*)?\)")


def unlink_missing_notebooks(nb: dict, present: set[str]) -> int:
    """Turn Markdown links to notebooks that are not in this book into plain text; return how many.

    A run may hold only some notebooks; a link to an absent one would be a broken
    reference, which fails the build under ``-W``.
    """
    count = 0

    def repl(m):
        nonlocal count
        if m.group(2) in present:
            return m.group(0)
        count += 1
        return m.group(1)

    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            cell["source"] = _NB_LINK_RE.sub(repl, _source(cell))
    return count


def _read_notebook(path: Path) -> dict:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(path, f"not a readable notebook (invalid JSON: {exc})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        version = nb.get("nbformat") if isinstance(nb, dict) else None
        raise DataFileError(path, f"not an nbformat-4 notebook (nbformat={version!r})")
    return nb


def read_results_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Parse the runner's ``results.md``: (text lines before the table, table rows as cell lists)."""
    if not path.is_file():
        raise DataFileError(path, "the run folder has no results table (results.md); `solarcnn run` writes it "
                                  "after executing notebooks")
    lines = path.read_text(encoding="utf-8").splitlines()
    header_i = None
    for i, line in enumerate(lines):
        if line.strip().startswith("|"):
            header_i = i
            break
    if header_i is None:
        raise DataFileError(path, "no Markdown table in the file; expected a header "
                                  "'| " + " | ".join(RESULTS_HEADER) + " |'")
    header = [c.strip() for c in lines[header_i].strip().strip("|").split("|")]
    if header not in (RESULTS_HEADER, RESULTS_HEADER_V1):
        raise DataFileError(path, f"the table's columns are {header}; expected {RESULTS_HEADER}")
    columns = len(header)
    if header_i + 1 >= len(lines) or not re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[header_i + 1].strip()):
        raise DataFileError(path, "the table header is not followed by a '|---|' separator line")
    rows = []
    for n, line in enumerate(lines[header_i + 2:], header_i + 3):
        if not line.strip():
            continue
        if not line.strip().startswith("|"):
            raise DataFileError(path, f"line {n}: text after the table: {line[:80]!r}")
        # The description is the rest of the line: the runner does not escape a '|' in it.
        body = line.strip()[1:]
        if body.endswith("|") and not body.endswith("\\|"):
            body = body[:-1]
        cells = [c.strip() for c in body.split("|", columns - 1)]
        if len(cells) < columns:
            raise DataFileError(path, f"line {n}: {len(cells)} columns, expected {columns}: {line[:80]!r}")
        if columns == len(RESULTS_HEADER_V1):          # an older table: no interval, no baseline
            cells = cells[:3] + ["", ""] + cells[3:]
        rows.append(cells[:6] + [re.sub(r"(?<!\\)\|", r"\\|", cells[6])])
    return lines[:header_i], rows


def results_markdown(path: Path, notebooks: list[str]) -> str:
    """The results table as book Markdown: headings demoted, notebook names linked to their pages."""
    preamble, rows = read_results_table(path)
    out = []
    for line in preamble:
        out.append("#" + line if line.startswith("#") else line)   # the page template owns the H1
    out += ["", "| " + " | ".join(RESULTS_HEADER) + " |", "|---|---|---:|---|---:|---|---|"]
    for nb, metric, value, interval, baseline, unit, desc in rows:
        shown = f"[{nb}]({nb}.ipynb)" if nb in notebooks else nb
        out.append(f"| {shown} | `{metric}` | {value} | {interval} | {baseline} | {unit} | {desc} |")
    if not rows:
        out.append("| (no metrics were recorded) | | | | | | |")
    return "\n".join(out).strip() + "\n"


RESULTS_PLACEHOLDER = "{{ results_table }}"


def stage(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, book_src: str | os.PathLike | None = None,
          env: BookEnv | None = None, injected: str = "show", assets_dir: str | os.PathLike | None = None,
          edition: str = "instructor") -> Path:
    """Assemble the book's sources in ``<out_dir>/src`` and return that folder.

    Args:
        run_dir: folder with executed ``NN_slug.ipynb`` files and ``results.md``.
        out_dir: build folder; ``src/`` inside it is replaced.
        book_src: the committed sources (default ``<repo>/book``): ``_config.yml``,
            ``intro.md`` (becomes the index page), ``results.md`` (template with
            ``{{ results_table }}``), other pages listed in ``book/pages.txt``, ``_static/``.
        env: the book environment whose MathJax is copied (default: `ensure_env()`).
        injected: ``"show"`` or ``"remove"`` papermill's injected-parameters cells.
        assets_dir: a folder whose images notebooks reference by relative path
            (default the checkout's ``notebooks/`` if it exists); image files are copied.
        edition: ``"instructor"`` (solutions folded with their outputs) or ``"student"``
            (solutions replaced by stubs, no solution output); see `solarcnn.course.editions`.
    """
    if edition not in editions.EDITIONS:
        raise ValueError(f"edition must be one of {editions.EDITIONS}; received {edition!r}")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    course_book = book_src is None        # the checkout's own book gets the benchmark page too
    book_src = Path(book_src) if book_src else book_sources()
    for need in ("_config.yml", "intro.md", "results.md"):
        if not (book_src / need).is_file():
            raise DataFileError(book_src / need, "missing from the book sources")
    notebooks = find_notebooks(run_dir)
    prepared = {}
    for path in notebooks:
        prepared[path.stem] = prepare_notebook(_read_notebook(path), path, injected=injected, edition=edition)
    for nb in prepared.values():
        unlink_missing_notebooks(nb, set(prepared))
    results_page = (book_src / "results.md").read_text(encoding="utf-8")
    if RESULTS_PLACEHOLDER not in results_page:
        raise DataFileError(book_src / "results.md", f"the results page template lacks {RESULTS_PLACEHOLDER}")
    table = results_markdown(run_dir / "results.md", list(prepared))
    extra_pages = _extra_pages(book_src)
    mathjax = (env or ensure_env()).mathjax_dir()

    src = out_dir / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    shutil.copy2(book_src / "_config.yml", src / "_config.yml")
    if edition == "student":              # the student book says which edition it is in its title
        config = (src / "_config.yml").read_text(encoding="utf-8")
        config = re.sub(r'^(title:\s*)"(.*)"\s*$', r'\1"\2 (student edition)"', config, count=1, flags=re.M)
        (src / "_config.yml").write_text(config, encoding="utf-8")
    shutil.copy2(book_src / "intro.md", src / "index.md")
    (src / "results.md").write_text(results_page.replace(RESULTS_PLACEHOLDER, table.rstrip()), encoding="utf-8")
    for page in extra_pages:
        shutil.copy2(book_src / page, src / page)
    bench = _benchmark_results() if course_book else None
    if bench is not None:                 # the benchmark suite's measured table, when the checkout has one
        shutil.copy2(bench, src / "benchmarks.md")
        extra_pages = [*extra_pages, "benchmarks.md"]
    if (book_src / "_static").is_dir():
        shutil.copytree(book_src / "_static", src / "_static")
    if (book_src / "_ext").is_dir():
        shutil.copytree(book_src / "_ext", src / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    # Not in _static: Jupyter Book would add every .js file there to every page (MathJax twice).
    static = src / "_vendor" / "mathjax"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy2(mathjax / "tex-mml-chtml.js", static / "tex-mml-chtml.js")
    shutil.copytree(mathjax / "output" / "chtml" / "fonts", static / "output" / "chtml" / "fonts")
    if assets_dir is None:
        with contextlib.suppress(BookError):
            cand = checkout() / "notebooks"
            assets_dir = cand if cand.is_dir() else None
    if assets_dir:
        _copy_assets(Path(assets_dir), src)
    _copy_assets(run_dir, src, skip={"work", "metrics"})
    for stem, nb in prepared.items():
        (src / f"{stem}.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    (src / "_toc.yml").write_text(toc_yaml(list(prepared), extra_pages), encoding="utf-8")
    return src


def _benchmark_results() -> Path | None:
    """``benchmarks/RESULTS.md`` of the checkout (the speed measurements), if there is one."""
    try:
        page = checkout() / "benchmarks" / "RESULTS.md"
    except BookError:
        return None
    return page if page.is_file() else None


def _extra_pages(book_src: Path) -> list[str]:
    """Pages after the results page, in the order ``book/pages.txt`` lists them."""
    listing = book_src / "pages.txt"
    if not listing.is_file():
        return []
    pages = []
    for n, line in enumerate(listing.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not (book_src / line).is_file():
            raise DataFileError(listing, f"line {n} names {line!r}, which is not a file in {book_src}")
        pages.append(line)
    return pages


def _copy_assets(folder: Path, dest: Path, skip: set[str] = frozenset()) -> None:
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if rel.parts[0] in skip or any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in ASSET_SUFFIXES:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def toc_yaml(notebooks: list[str], extra_pages: list[str] = ()) -> str:
    """``_toc.yml``: the index page, the notebooks in the given order, then results and the extra pages."""
    lines = ["# Generated by solarcnn.course.book.stage: do not edit (the order is the notebooks' numbers).",
             "format: jb-book", "root: index", "parts:", "  - caption: Lessons", "    chapters:"]
    lines += [f"      - file: {stem}" for stem in notebooks]
    lines += ["  - caption: Results and teaching", "    chapters:", "      - file: results"]
    lines += [f"      - file: {Path(p).with_suffix('').as_posix()}" for p in extra_pages]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class BuildResult:
    index: Path
    pages: dict = field(default_factory=dict)     # notebook stem -> html path
    log: str = ""


def build(run_dir: str | os.PathLike = "runs/tiny", out_dir: str | os.PathLike = "build/book", *,
          book_src: str | os.PathLike | None = None, env: BookEnv | None = None, injected: str = "show",
          timeout: float = 900, return_result: bool = False, edition: str = "instructor"):
    """Stage and build the book; return the path of its ``index.html``.

    Runs ``jupyter-book build -W -n --keep-going`` in the book environment, so any
    Sphinx warning (a missing title, a broken reference) fails the build. The HTML
    goes to ``<out_dir>/_build/html``; a previous build there is removed first.

    Args:
        run_dir: folder of executed notebooks (``NN_slug.ipynb``) and ``results.md``.
        out_dir: build folder (``src/`` and ``_build/`` inside it are replaced).
        book_src: the committed book sources (default ``<repo>/book``).
        env: the book environment (default `ensure_env()`).
        injected: ``"show"`` or ``"remove"`` papermill's injected-parameters cells.
        timeout: seconds the build may take.
        return_result: return a `BuildResult` (index, pages, log) instead of the path.
        edition: ``"instructor"`` or ``"student"`` (see `stage`).
    """
    env = env or ensure_env()
    out_dir = Path(out_dir).resolve()
    src = stage(run_dir, out_dir, book_src=book_src, env=env, injected=injected, edition=edition)
    build_dir = out_dir / "_build"
    if build_dir.exists():
        shutil.rmtree(build_dir)
    cmd = [str(env.jupyter_book), "build", "-W", "-n", "--keep-going", "--path-output", str(out_dir), str(src)]
    try:
        log = _run(cmd, what="jupyter-book build", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BookError(f"jupyter-book build took more than {timeout:.0f} s") from None
    html_dir = build_dir / "html"
    index = html_dir / "index.html"
    pages = {p.stem: html_dir / f"{p.stem}.html" for p in src.glob("*.ipynb")}
    for page in [index, html_dir / "results.html", *pages.values()]:
        if not page.is_file() or page.stat().st_size == 0:
            raise BookError(f"jupyter-book build exited 0 but {page} is missing or empty:\n"
                            + "\n".join(log.splitlines()[-20:]))
    body = index.read_text(encoding="utf-8", errors="replace")
    if "<main" not in body and "bd-article" not in body:
        raise BookError(f"{index}: the built index page has no article content")
    if return_result:
        return BuildResult(index=index, pages=dict(sorted(pages.items())), log=log)
    return index


# ---------------------------------------------------------------------------------------------------------------
# Browser check
