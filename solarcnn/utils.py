"""Small shared utilities: parallel map with a progress bar, atomic writes, block averages, the checkout."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator


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


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary name a file is written under before it is renamed into place.

    ``.part-<pid>-<thread>-<name>`` in the same folder: the rename stays atomic (one file system), the
    suffix is kept (writers that choose the format by it, such as astropy's ``.fits.gz``, still do), two
    processes or threads writing the same file never share a temporary file, and every reader of a
    folder can leave out names starting with ``.part-``.
    """
    import threading

    path = Path(path)
    return path.with_name(f".part-{os.getpid()}-{threading.get_ident()}-{path.name}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Write one file atomically: the one writer of the package (every file it writes goes through here).

    ``with atomic_path(dest) as tmp:`` write `tmp` (any writer: astropy, h5py, Pillow, NumPy...); when the
    block ends normally `tmp` replaces `dest` in one rename, so a reader (or a run killed with ``kill -9``)
    sees the old file or the new one, never half of one. When the block raises, `tmp` is removed and
    `dest` is left as it was.

    Args:
        path: the destination; its folder is created.
        overwrite: if False, an existing destination raises `FileExistsError` (before and after writing).
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if not overwrite and path.exists():
            raise FileExistsError(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def block_mean(a, factors: tuple[int, int]):
    """Mean over non-overlapping ``fy × fx`` blocks of the last two axes (the one block average of the package).

    The block sums are accumulated one block row and one block column at a time: contiguous adds, several
    times faster than ``a.reshape(..., h, fy, w, fx).mean(axis=(-3, -1))``. For integer-valued data (camera
    counts, masks, 8-bit grey levels) the result is exactly NumPy's mean; for other floats it can differ from
    it in the last bit (another summation order). Floats keep their dtype; other types average in float64.

    Args:
        a: array of shape ``(..., H, W)``; ``H`` and ``W`` must be multiples of the factors.
        factors: ``(fy, fx)``, positive integers.

    Raises:
        ValueError: a factor that is not a positive integer, or that does not divide its axis.
    """
    import numpy as np

    a = np.asarray(a)
    try:
        fy, fx = (int(f) for f in factors)
    except (TypeError, ValueError):
        raise ValueError(f"block_mean: factors must be two positive integers; received {factors!r}") from None
    if a.ndim < 2 or fy < 1 or fx < 1 or a.shape[-2] % fy or a.shape[-1] % fx:
        raise ValueError(f"block_mean: array shape {a.shape} is not an exact multiple of blocks {(fy, fx)}")
    h, w = a.shape[-2] // fy, a.shape[-1] // fx
    blocks = a.reshape(*a.shape[:-2], h, fy, w, fx)
    acc_dtype = a.dtype if a.dtype.kind == "f" else np.float64
    rows = blocks[..., 0, :, :].astype(acc_dtype, copy=True)
    for i in range(1, fy):
        rows += blocks[..., i, :, :]
    out = rows[..., 0].copy()
    for j in range(1, fx):
        out += rows[..., j]
    out /= fy * fx
    return out


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
    """Parse a command-line value the way YAML does (3 → int, 0.5 → float, true → bool, else the text).

    Exponent numbers YAML 1.1 leaves as text (``1e-4``, ``[1e-5, 0.01]``) are floats, as in Python.
    """
    import re

    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                                  list("-+0123456789."))
    try:
        return yaml.load(text, Loader=_Loader)
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


PACKAGED_COURSE = "_course"   # a built wheel's copy of the checkout's course folders (tools/build_py.py)


def course_folder(name: str) -> Path:
    """A course folder kept beside the package: ``"data_manifests"`` or ``"notebooks"``.

    From a checkout (an editable install) it is the repository's top-level folder; in an installed
    wheel it is the copy the build put into the package (``solarcnn/_course/<name>``), found through
    ``importlib.resources``.

    Args:
        name: the folder's name, ``"data_manifests"`` or ``"notebooks"``.

    Raises:
        ValueError: `name` is not one of those.
        SolarCNNError: neither the checkout's folder nor the packaged copy exists.
    """
    from importlib.resources import files

    from .errors import SolarCNNError

    if name not in ("data_manifests", "notebooks"):
        raise ValueError(f"name must be 'data_manifests' or 'notebooks'; received {name!r}")
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / name).is_dir():
        return checkout / name
    packaged = Path(str(files("solarcnn").joinpath(PACKAGED_COURSE, name)))
    if packaged.is_dir():
        return packaged
    raise SolarCNNError(f"{packaged}: the installed solarcnn has no {name}/ (nor is it a checkout with "
                        f"{checkout / name}); reinstall it from a wheel built by pip wheel or python -m build")
