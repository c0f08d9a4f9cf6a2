"""Build the course book (Jupyter Book 1.x) from a folder of executed notebooks, and check it in a browser.

The book renders what a run produced; it never executes anything itself::

    from solarcnn.course import book
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
  removed); the instructor edition folds ``solution`` cells with their outputs (``hide-cell``),
  the student edition (``edition="student"``) replaces them with stubs (`solarcnn.course.editions`).
- `build` runs ``jupyter-book build -W -n --keep-going`` (every Sphinx warning fails
  the build) and checks that the HTML pages exist and are not empty.
- `check_in_browser` opens one page in headless Chromium (``--dump-dom`` after
  scripts ran, and ``--screenshot``) and checks what a reader would see.

The parts: `env` (the book's virtual environment), `staging` (staging and building),
`check` (the browser checks); `_base` holds what they share. Everything a caller uses
is re-exported here.
"""
from __future__ import annotations

from ...utils import repo_root  # noqa: F401  (the one checkout finder; book.repo_root is kept for callers)
from ._base import (  # noqa: F401
    ASSET_SUFFIXES, CHROMIUM_FLAGS, CHROMIUM_NAMES, CHROMIUM_VAR, ENV_VAR, NOTEBOOK_RE, RESULTS_HEADER, STAMP,
    WIDGET_MIME, BookError, book_sources, checkout, default_venv, requirements_file,
)
from .check import (  # noqa: F401
    check_book, check_in_browser, dom_problems, find_chromium, probe_problems, remote_resources, screenshot_problems,
)
from .env import BookEnv, ensure_env  # noqa: F401
from .staging import (  # noqa: F401
    RESULTS_PLACEHOLDER, BuildResult, build, check_notebook, find_notebooks, notebook_title, prepare_notebook,
    read_results_table, results_markdown, stage, toc_yaml, unlink_missing_notebooks,
)
