"""What the parts of the book tooling share: constants, `BookError`, where the checkout's book sources are."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ...errors import SolarCNNError
from ...utils import repo_root

NOTEBOOK_RE = re.compile(r"^(\d\d)_[A-Za-z0-9_\-]+\.ipynb$")
RESULTS_HEADER = ["notebook", "metric", "value", "interval", "baseline", "unit", "description"]
# the table before intervals and baselines were recorded (issue 15); still read, shown with empty columns
RESULTS_HEADER_V1 = ["notebook", "metric", "value", "unit", "description"]
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

def checkout() -> Path:
    """The checkout holding ``book/`` and ``requirements/`` (the package is installed editable from it)."""
    try:
        return repo_root("book", "requirements")
    except SolarCNNError as exc:
        raise BookError(f"{exc} (or pass book_src=...)") from None


def book_sources() -> Path:
    """The committed book sources (``book/``)."""
    return checkout() / "book"


def requirements_file() -> Path:
    return checkout() / "requirements" / "book.txt"


def default_venv() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else checkout() / ".venv-book"


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def _run(cmd: list[str], *, what: str, cwd: Path | None = None, timeout: float = 1800) -> str:
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise BookError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


