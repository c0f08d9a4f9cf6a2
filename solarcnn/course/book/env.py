"""The book's own virtual environment (Jupyter Book 1 lives there, not in the course's environment)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import DataFileError
from ._base import STAMP, BookError, _bin, _run, default_venv, requirements_file


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
                        f"Delete the environment and run solarcnn.course.book.ensure_env() again.")


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
    venv_id = hashlib.sha256(str(venv.resolve()).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"solarcnn-book-env-{venv_id}.lock"
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

