"""Build the course book (Jupyter Book 1.x) from a folder of executed notebooks, and check it in a browser.

The book renders what a run produced; it never executes anything itself::

    from solarcnn import book
    index = book.build("runs/tiny", "build/book")       # -> build/book/_build/html/index.html
    book.check_book(index)                               # headless Chromium: title, figure, math, no errors

CLI: ``solarcnn book --run runs/tiny --out build/book [--check]``.

How it works:

- `ensure_env` creates (or reuses) the book's own virtual environment ``.venv-book``
  from ``requirements/book.txt``; Jupyter Book 1 lives there, not in the course's
  environment (Jupyter Book 2 cannot build offline, see the toolchain reference §8).
- `stage` copies the sources in ``book/`` plus the run's ``NN_slug.ipynb`` files and
  its ``results.md`` into ``<out>/src``, writes ``_toc.yml`` in notebook-number order
  (adding a notebook needs no edit here), and copies MathJax 3 from the book
  environment into ``_vendor/mathjax`` (served as ``_static/mathjax``) so the HTML works
  without internet.
  Notebooks are checked first: an error output, a missing ``# Title`` cell or a
  notebook that was never executed stops the build with a `DataFileError` naming
  the file. papermill's ``injected-parameters`` cell becomes a visible note (or is
  removed); ``solution`` cells are folded (``hide-input``).
- `build` runs ``jupyter-book build -W -n --keep-going`` (every Sphinx warning fails
  the build) and checks that the HTML pages exist and are not empty.
- `check_in_browser` opens one page in headless Chromium (``--dump-dom`` after
  scripts ran, and ``--screenshot``) and checks what a reader would see.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import html as _html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataFileError, SolarCNNError

NOTEBOOK_RE = re.compile(r"^(\d\d)_[A-Za-z0-9_\-]+\.ipynb$")
RESULTS_HEADER = ["notebook", "metric", "value", "unit", "description"]
ENV_VAR = "SOLARCNN_BOOK_VENV"            # where the book's venv lives (default <repo>/.venv-book)
CHROMIUM_VAR = "SOLARCNN_CHROMIUM"         # path of the Chromium binary (default: found on PATH)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
STAMP = "solarcnn-book-env.json"
# Image types a notebook's Markdown may reference next to it (copied with the notebooks).
ASSET_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Chromium flags from the toolchain reference (§8.3); no network, no profile state.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--virtual-time-budget=5000"]


class BookError(SolarCNNError, RuntimeError):
    """The book could not be built, or the built book does not render as it should."""


# ---------------------------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------------------------

def repo_root() -> Path:
    """The checkout holding ``book/`` and ``requirements/`` (the package is installed editable from it)."""
    from .utils import repo_root as _root

    try:
        return _root("book", "requirements")
    except SolarCNNError as exc:
        raise BookError(f"{exc} (or pass book_src=...)") from None


def book_sources() -> Path:
    """The committed book sources (``book/``)."""
    return repo_root() / "book"


def requirements_file() -> Path:
    return repo_root() / "requirements" / "book.txt"


def default_venv() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else repo_root() / ".venv-book"


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


# ---------------------------------------------------------------------------------------------------------------
# The book's environment
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class BookEnv:
    """The virtual environment that holds Jupyter Book 1 (see `ensure_env`)."""

    venv: Path

    @property
    def python(self) -> Path:
        return _bin(self.venv, "python")

    @property
    def jupyter_book(self) -> Path:
        return _bin(self.venv, "jupyter-book")

    def mathjax_dir(self) -> Path:
        """MathJax 3's ``es5`` folder, shipped by the ``django-static-mathjax`` wheel."""
        hits = sorted(self.venv.glob("lib*/python*/site-packages/mathjax/static/mathjax/es5"))
        hits += sorted(self.venv.glob("Lib/site-packages/mathjax/static/mathjax/es5"))
        for hit in hits:
            if (hit / "tex-mml-chtml.js").is_file():
                return hit
        raise BookError(f"{self.venv}: no MathJax 3 (mathjax/static/mathjax/es5/tex-mml-chtml.js) in the book "
                        f"environment; it comes from django-static-mathjax in {requirements_file()}. "
                        f"Delete the environment and run solarcnn.book.ensure_env() again.")


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock file, so that two processes do not pip-install into one venv at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            import fcntl
        except ImportError:            # Windows: no locking, best effort
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _requirements_key(requirements: Path) -> dict:
    text = requirements.read_text()
    return {"requirements_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "python": ".".join(map(str, sys.version_info[:2]))}


def ensure_env(venv: str | os.PathLike | None = None, *, requirements: str | os.PathLike | None = None,
               python: str | os.PathLike | None = None, quiet: bool = True) -> BookEnv:
    """Create the book's virtual environment, or reuse it when it matches the requirements.

    A stamp file inside the venv records the SHA-256 of the requirements file it was
    installed from; when the stamp matches and ``jupyter-book`` is there, nothing is
    run. Otherwise ``python -m venv`` (if needed) and ``pip install -r`` bring it up to date.

    Args:
        venv: the folder; default ``$SOLARCNN_BOOK_VENV`` or ``<repo>/.venv-book``.
        requirements: default ``<repo>/requirements/book.txt``.
        python: the interpreter that creates the venv; default this one.
        quiet: pass ``-q`` to pip.
    """
    venv = Path(venv) if venv else default_venv()
    requirements = Path(requirements) if requirements else requirements_file()
    if not requirements.is_file():
        raise DataFileError(requirements, "the book's requirements file does not exist")
    env = BookEnv(venv)
    key = _requirements_key(requirements)
    stamp = venv / STAMP
    lock = Path(tempfile.gettempdir()) / f"solarcnn-book-env-{hashlib.sha256(str(venv.resolve()).encode()).hexdigest()[:16]}.lock"
    with _locked(lock):
        if stamp.is_file() and env.jupyter_book.is_file() and env.python.is_file():
            try:
                if json.loads(stamp.read_text()) == key:
                    return env
            except json.JSONDecodeError:
                pass
        if not env.python.is_file():
            _run([str(python or sys.executable), "-m", "venv", str(venv)], what=f"python -m venv {venv}")
        pip = [str(env.python), "-m", "pip", "install", "--disable-pip-version-check"] + (["-q"] if quiet else [])
        _run(pip + ["-r", str(requirements)], what=f"pip install -r {requirements} into {venv}")
        if not env.jupyter_book.is_file():
            raise BookError(f"{venv}: pip finished but {env.jupyter_book} does not exist")
        env.mathjax_dir()
        stamp.write_text(json.dumps(key))
    return env


def _run(cmd: list[str], *, what: str, cwd: Path | None = None, timeout: float = 1800) -> str:
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise BookError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


# ---------------------------------------------------------------------------------------------------------------
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


def prepare_notebook(nb: dict, path: Path, *, injected: str = "show") -> dict:
    """A copy of the notebook ready for the book (the file itself is not changed).

    - papermill's ``injected-parameters`` cell becomes a Markdown note listing the values
      the run used (``injected="show"``) or is dropped (``"remove"``);
    - ``solution`` cells get ``hide-input`` (folded, one click to open);
    - widget outputs (tqdm bars) keep only their text form and the widget state is dropped:
      rendering them would load scripts from a CDN.
    """
    if injected not in ("show", "remove"):
        raise ValueError(f"injected must be 'show' or 'remove'; received {injected!r}")
    check_notebook(nb, path)
    nb = copy.deepcopy(nb)
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
            if "solution" in tags and "hide-input" not in tags:
                cell.setdefault("metadata", {})["tags"] = tags + ["hide-input"]
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
        raise DataFileError(path, f"not an nbformat-4 notebook (nbformat={nb.get('nbformat') if isinstance(nb, dict) else None!r})")
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
                                  "'| notebook | metric | value | unit | description |'")
    header = [c.strip() for c in lines[header_i].strip().strip("|").split("|")]
    if header != RESULTS_HEADER:
        raise DataFileError(path, f"the table's columns are {header}; expected {RESULTS_HEADER}")
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
        cells = [c.strip() for c in body.split("|", 4)]
        if len(cells) < len(RESULTS_HEADER):
            raise DataFileError(path, f"line {n}: {len(cells)} columns, expected {len(RESULTS_HEADER)}: {line[:80]!r}")
        rows.append(cells[:4] + [re.sub(r"(?<!\\)\|", r"\\|", cells[4])])
    return lines[:header_i], rows


def results_markdown(path: Path, notebooks: list[str]) -> str:
    """The results table as book Markdown: headings demoted, notebook names linked to their pages."""
    preamble, rows = read_results_table(path)
    out = []
    for line in preamble:
        out.append("#" + line if line.startswith("#") else line)   # the page template owns the H1
    out += ["", "| " + " | ".join(RESULTS_HEADER) + " |", "|---|---|---:|---|---|"]
    for nb, metric, value, unit, desc in rows:
        shown = f"[{nb}]({nb}.ipynb)" if nb in notebooks else nb
        out.append(f"| {shown} | `{metric}` | {value} | {unit} | {desc} |")
    if not rows:
        out.append("| (no metrics were recorded) | | | | |")
    return "\n".join(out).strip() + "\n"


RESULTS_PLACEHOLDER = "{{ results_table }}"


def stage(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, book_src: str | os.PathLike | None = None,
          env: BookEnv | None = None, injected: str = "show", assets_dir: str | os.PathLike | None = None) -> Path:
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
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    course_book = book_src is None        # the checkout's own book gets the benchmark page too
    book_src = Path(book_src) if book_src else book_sources()
    for need in ("_config.yml", "intro.md", "results.md"):
        if not (book_src / need).is_file():
            raise DataFileError(book_src / need, "missing from the book sources")
    notebooks = find_notebooks(run_dir)
    prepared = {}
    for path in notebooks:
        prepared[path.stem] = prepare_notebook(_read_notebook(path), path, injected=injected)
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
            cand = repo_root() / "notebooks"
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
        page = repo_root() / "benchmarks" / "RESULTS.md"
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
    lines = ["# Generated by solarcnn.book.stage: do not edit (the order is the notebooks' numbers).",
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
          timeout: float = 900, return_result: bool = False):
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
    """
    env = env or ensure_env()
    out_dir = Path(out_dir).resolve()
    src = stage(run_dir, out_dir, book_src=book_src, env=env, injected=injected)
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
# ---------------------------------------------------------------------------------------------------------------

def find_chromium() -> str:
    """The Chromium binary: ``$SOLARCNN_CHROMIUM`` or the first of chromium / google-chrome on PATH."""
    env = os.environ.get(CHROMIUM_VAR)
    if env:
        if not Path(env).is_file():
            raise BookError(f"${CHROMIUM_VAR} names {env}, which does not exist")
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BookError("no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES) + "); install it, e.g. "
                    "`apt-get install -y chromium`, or set $" + CHROMIUM_VAR)


_TAG_ATTR_RE = {
    "script": re.compile(r"<script\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.I),
    "link": re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"']([^\"']+)[\"']", re.I),
}


def remote_resources(html_text: str) -> list[str]:
    """``<script src>`` / ``<link href>`` URLs that point off the machine (http:, https:, //)."""
    bad = []
    for tag, rx in _TAG_ATTR_RE.items():
        for url in rx.findall(html_text):
            url = _html.unescape(url).strip()
            if re.match(r"^(https?:)?//", url, re.I) or re.match(r"^(ftp|ws|wss):", url, re.I):
                bad.append(f"<{tag}> {url}")
    return bad


_ERROR_CLASS_RE = re.compile(r"class\s*=\s*\"[^\"]*\b(output\b[^\"]*\b(error|traceback)|"
                             r"(error|traceback)\b[^\"]*\boutput)\b[^\"]*\"", re.I)
_IMG_RE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*\"([^\"]+)\"", re.I)


def dom_problems(dom: str, *, expect_figure: bool, expect_math: bool | None) -> tuple[dict, list[str]]:
    """Inspect a DOM dump; return (facts, problems).

    Facts: the ``<title>``, the first ``<h1>``, image sources, the number of typeset
    MathJax elements and of raw math elements. ``expect_math=None`` means "if the
    page has math, it must be typeset".
    """
    problems = []
    m = re.search(r"<title>(.*?)</title>", dom, re.S | re.I)
    title = _html.unescape(re.sub(r"\s+", " ", m.group(1))).strip() if m else ""
    m = re.search(r"<h1\b[^>]*>(.*?)</h1>", dom, re.S | re.I)
    h1 = _html.unescape(re.sub(r"<[^>]+>|\s+", " ", m.group(1))).replace("#", "").strip() if m else ""
    images = _IMG_RE.findall(dom)
    figures = [s for s in images if "logo" not in s.lower()]
    n_typeset = len(re.findall(r"<mjx-container\b", dom, re.I))
    n_math = len(re.findall(r"class=\"[^\"]*\bmath\b[^\"]*\"", dom, re.I))
    facts = {"title": title, "h1": h1, "images": figures, "mathjax": n_typeset, "math_elements": n_math}
    if not title:
        problems.append("no <title>")
    if not h1:
        problems.append("no <h1> heading")
    if _ERROR_CLASS_RE.search(dom):
        problems.append("an error/traceback output is shown")
    if "Traceback (most recent call last)" in dom:
        problems.append("a Python traceback is shown")
    if expect_figure and not figures:
        problems.append("no <img> figure on the page")
    if expect_math and n_typeset == 0:
        problems.append("no typeset math (MathJax did not run)")
    if expect_math is None and n_math and n_typeset == 0:
        problems.append(f"{n_math} math elements but none typeset (MathJax did not run)")
    if n_typeset and re.search(r"<mjx-merror\b", dom, re.I):
        problems.append("MathJax reported a TeX error")
    problems += [f"off-machine resource in the page: {u}" for u in remote_resources(dom)]
    return facts, problems


def screenshot_problems(png: Path) -> tuple[dict, list[str]]:
    """Check that a screenshot exists and is not blank (a single colour or nearly so)."""
    if not png.is_file() or png.stat().st_size == 0:
        return {}, [f"no screenshot written ({png})"]
    import numpy as np
    from PIL import Image

    try:
        with Image.open(png) as im:
            arr = np.asarray(im.convert("L"), dtype=np.float32)
    except Exception as exc:           # noqa: BLE001 - report any decoding failure
        return {}, [f"{png}: not a readable PNG ({exc})"]
    facts = {"size": (arr.shape[1], arr.shape[0]), "std": float(arr.std()),
             "dark_fraction": float((arr < 128).mean())}
    problems = []
    if arr.std() < 5 or facts["dark_fraction"] < 0.002:
        problems.append(f"{png}: the screenshot is blank (grey-level std {arr.std():.1f}, "
                        f"{100 * facts['dark_fraction']:.2f} % dark pixels)")
    return facts, problems


def check_in_browser(html_path: str | os.PathLike, *, expect_figure: bool = False, expect_math: bool | None = None,
                     expect_title: str | None = None, screenshot: str | os.PathLike | None = None,
                     window_size: tuple[int, int] = (1280, 900), chromium: str | None = None,
                     timeout: float = 120) -> dict:
    """Open one built page in headless Chromium and check that it renders.

    Checks the DOM after scripts ran (``--dump-dom``): a ``<title>`` and an ``<h1>``,
    no error or traceback output, a figure ``<img>`` whose file exists (if
    `expect_figure`), typeset MathJax (if `expect_math`, or whenever the page has
    math when it is None), and no ``<script>``/``<link>`` pointing off the machine
    (in the DOM and the HTML file). Then takes a screenshot and checks it is not blank.

    Args:
        html_path: the page (``.../_build/html/index.html`` or a notebook's page).
        expect_figure: require at least one figure image.
        expect_math: True require typeset math; False do not; None: typeset if present.
        expect_title: a string the ``<title>`` must contain.
        screenshot: where to write the PNG (default a temporary file, removed).
        window_size: the browser window, pixels.
        chromium: the binary (default `find_chromium`).
        timeout: seconds for each Chromium call.

    Returns:
        a dict of what was found (title, h1, images, mathjax count, screenshot facts).

    Raises:
        BookError: listing every problem found.
    """
    page = Path(html_path).resolve()
    if not page.is_file():
        raise DataFileError(page, "the page does not exist; build the book first (solarcnn book)")
    chromium = chromium or find_chromium()
    url = page.as_uri()
    problems = [f"off-machine resource in the HTML file: {u}"
                for u in remote_resources(page.read_text(encoding="utf-8", errors="replace"))]
    with tempfile.TemporaryDirectory(prefix="solarcnn-chromium-") as tmp:
        flags = CHROMIUM_FLAGS + [f"--user-data-dir={tmp}/profile", f"--window-size={window_size[0]},{window_size[1]}"]
        probe = _probe_copy(page)
        try:
            proc = subprocess.run([chromium, *flags, "--dump-dom", probe.as_uri()], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BookError(f"{page}: Chromium did not finish --dump-dom within {timeout:.0f} s") from None
        finally:
            probe.unlink(missing_ok=True)
        dom = proc.stdout
        if proc.returncode != 0 or "<html" not in dom.lower():
            raise BookError(f"{page}: Chromium --dump-dom failed (exit {proc.returncode}):\n"
                            + "\n".join(proc.stderr.splitlines()[-15:]))
        facts, more = dom_problems(dom, expect_figure=expect_figure, expect_math=expect_math)
        problems += more
        missing = [s for s in facts["images"] if not s.startswith("data:") and not _local_file(page, s)]
        problems += [f"figure file missing: {s}" for s in missing]
        probe_facts, more = probe_problems(dom)
        facts.update(probe_facts)
        problems += more
        if expect_figure and not probe_facts.get("images_loaded"):
            problems.append("no figure image was decoded by the browser")
        if expect_title and expect_title not in facts["title"]:
            problems.append(f"title {facts['title']!r} does not contain {expect_title!r}")
        shot = Path(screenshot).resolve() if screenshot else Path(tmp) / "page.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.unlink(missing_ok=True)
        try:
            proc = subprocess.run([chromium, *flags, f"--screenshot={shot}", url], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BookError(f"{page}: Chromium did not finish --screenshot within {timeout:.0f} s") from None
        shot_facts, more = screenshot_problems(shot)
        problems += more
    facts["screenshot"] = {**shot_facts, "path": str(shot) if screenshot else None}
    facts["page"] = str(page)
    if problems:
        raise BookError(f"{page} does not render as it should:\n- " + "\n- ".join(problems))
    return facts


# Injected into a temporary copy of the page (same folder, so relative links hold) before --dump-dom:
# records resources that failed to load, script errors, and which images the browser decoded.
_PROBE_HEAD = """<script data-solarcnn-probe>
window.__solarcnnFailures = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__solarcnnFailures.push(t.src || t.href ? 'failed to load ' + (t.src || t.href)
                                                 : 'script error: ' + (e.message || '?'));
}, true);
</script>"""
_PROBE_BODY = """<script data-solarcnn-probe>
function __solarcnnReport() {
  var out = document.getElementById('solarcnn-probe') || document.createElement('pre');
  out.id = 'solarcnn-probe';
  out.hidden = true;
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img'));
  var loaded = imgs.filter(function (im) { return im.complete && im.naturalWidth > 0; }).length;
  out.textContent = JSON.stringify({images_total: imgs.length, images_loaded: loaded,
                                    failures: window.__solarcnnFailures});
  document.body.appendChild(out);
}
window.addEventListener('load', function () { __solarcnnReport(); setTimeout(__solarcnnReport, 3000); });
</script>"""


def _probe_copy(page: Path) -> Path:
    text = page.read_text(encoding="utf-8", errors="replace")
    head = re.search(r"<head\b[^>]*>", text, re.I)
    body = text.lower().rfind("</body>")
    if not head or body < 0:
        raise BookError(f"{page}: not an HTML page with <head> and </body>")
    text = text[:body] + _PROBE_BODY + text[body:]
    text = text[:head.end()] + _PROBE_HEAD + text[head.end():]
    probe = page.with_name(f".solarcnn-probe-{os.getpid()}-{page.name}")
    probe.write_text(text, encoding="utf-8")
    return probe


def probe_problems(dom: str) -> tuple[dict, list[str]]:
    """Read the probe's report (failed resources, script errors, decoded images) from a DOM dump."""
    m = re.search(r"<pre\b[^>]*id=\"solarcnn-probe\"[^>]*>(.*?)</pre>", dom, re.S)
    if not m:
        return {}, ["the page's scripts did not finish (no load event within the time budget)"]
    try:
        report = json.loads(_html.unescape(m.group(1)))
    except json.JSONDecodeError:
        return {}, ["unreadable probe report"]
    failures = report.pop("failures", [])
    report["load_failures"] = failures
    return report, [f"in the browser: {f}" for f in failures]


def _local_file(page: Path, src: str) -> bool:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(src)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).is_file()
    if parsed.scheme:
        return False
    return (page.parent / unquote(parsed.path)).is_file()


def check_book(index_html: str | os.PathLike, *, notebook: str | None = None, all_pages: bool = False,
               screenshot_dir: str | os.PathLike | None = None, **kw) -> dict:
    """Check the index page and one notebook page in Chromium (or every page).

    The notebook page is `notebook` (a stem such as ``"01_solar_fits_data_prep"``) or
    the first page of the book that holds a figure; it must show a decoded figure.
    With `all_pages`, every other page (each notebook, results, instructors) is
    checked too, without requiring a figure. Returns ``{page name: facts}``.
    """
    index = Path(index_html)
    html_dir = index.parent
    shots = Path(screenshot_dir) if screenshot_dir else None
    report = {"index": check_in_browser(index, screenshot=shots / "index.png" if shots else None, **kw)}
    stems = sorted(p.stem for p in html_dir.glob("[0-9][0-9]_*.html"))
    if notebook is None:
        with_fig = [s for s in stems if re.search(r"<img\b[^>]*src=\"_images/",
                                                  (html_dir / f"{s}.html").read_text(errors="replace"))]
        if not with_fig:
            raise BookError(f"{html_dir}: no notebook page has a figure ({len(stems)} notebook pages)")
        notebook = with_fig[0]
    page = html_dir / f"{notebook}.html"
    report[notebook] = check_in_browser(page, expect_figure=True,
                                        screenshot=shots / f"{notebook}.png" if shots else None, **kw)
    if all_pages:
        others = [p for p in sorted(html_dir.glob("*.html"))
                  if p.stem not in report and p.stem not in ("genindex", "search") and p != index]
        for other in others:
            report[other.stem] = check_in_browser(other, screenshot=shots / f"{other.stem}.png" if shots else None,
                                                  **kw)
    return report
