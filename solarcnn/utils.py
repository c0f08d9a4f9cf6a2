"""Small shared utilities: parallel map with a progress bar, atomic writes."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable


def parallel_map(func: Callable, items: Iterable, *, n_jobs: int = 1, progress: bool = True, desc: str = "",
                 backend: str = "loky") -> list:
    """Apply `func` to every item, in order, optionally in parallel with a progress bar.

    ``n_jobs=1`` runs in this process (easy to debug); otherwise joblib runs
    `func` in worker processes (``backend="loky"``, the default: for work that
    holds the GIL, such as astropy's Python-level code) or threads
    (``backend="threading"``: for work that releases it, such as zlib, NumPy and
    Pillow; threads start instantly and copy nothing). Results come back in
    input order.
    """
    from tqdm.auto import tqdm

    items = list(items)
    if n_jobs == 1 or len(items) <= 1:
        return [func(x) for x in tqdm(items, desc=desc, disable=not progress, mininterval=1.0)]
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")
    out = par(delayed(func)(x) for x in items)
    return list(tqdm(out, total=len(items), desc=desc, disable=not progress, mininterval=1.0))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` under a temporary name and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".part-" + path.name)
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def work_dir(name: str) -> Path:
    """The folder where notebook (or task) `name` writes its files.

    ``$SOLARCNN_WORKDIR/<name>`` when the variable is set (the runner and the
    tests set it inside the run folder), else ``./solarcnn_work/<name>``.
    """
    root = Path(os.environ.get("SOLARCNN_WORKDIR", Path.cwd() / "solarcnn_work"))
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_value(text: str):
    """Parse a command-line value the way YAML does (3 → int, 0.5 → float, true → bool, else the text)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def repo_root(*markers: str) -> Path:
    """The source checkout the package is installed from (editable), holding the folders `markers`.

    The course's notebooks, book sources, manifests and benchmarks live beside the
    package in the checkout. The package's parent folder is tried first, then the
    current directory and its parents.

    Raises:
        SolarCNNError: no folder with ``solarcnn/`` and every marker was found.
    """
    from .errors import SolarCNNError

    markers = markers or ("notebooks",)
    here = Path(__file__).resolve().parent.parent
    cwd = Path.cwd()
    for p in (here, cwd, *cwd.parents):
        if (p / "solarcnn").is_dir() and all((p / m).is_dir() for m in markers):
            return p
    raise SolarCNNError(f"cannot find the solarcnn checkout (a folder with solarcnn/ and {', '.join(markers)}/); "
                        "run from the repository, where the package is installed with pip install -e .")
