"""Block-mean rebinning of CIRRUS frames (``reference/cirrus.md`` §2). Introduced in notebook 03.

512 × 640 → 128 × 160 is the mean of 4 × 4 blocks. Unlike the original ``rebin_fits`` (which silently
ignored every exception), a bad file raises `DataFileError` naming the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..utils import block_mean

BIN = (128, 160)


def rebin(arr, new_shape=BIN) -> np.ndarray:
    """Block mean of a 2-D array to `new_shape`; each dimension must divide exactly.

    Example:
        >>> rebin(np.arange(512 * 640).reshape(512, 640))[0, 0]
        961.5
    """
    a = np.asarray(arr)
    new_shape = tuple(int(s) for s in new_shape)
    if a.ndim != 2 or len(new_shape) != 2:
        raise ValueError(f"rebin expects a 2-D array and a 2-D shape; received array shape {a.shape}, "
                         f"new_shape {new_shape}")
    h, w = new_shape
    if h < 1 or w < 1 or a.shape[0] % h or a.shape[1] % w:
        raise ValueError(f"rebin: array shape {a.shape} is not an exact multiple of new_shape {new_shape}")
    # `solarcnn.utils.block_mean`, the package's one block average: for integer counts (the camera's) exactly
    # numpy's mean, several times faster.
    return block_mean(a, (a.shape[0] // h, a.shape[1] // w))


def binned_name(path) -> str:
    """``x_flux.fits`` → ``x_flux_binned.fits`` (the original's naming)."""
    name = Path(path).name
    for ext in (".fits.gz", ".fits", ".fit"):
        if name.endswith(ext):
            return name[: -len(ext)] + "_binned.fits"
    return name + "_binned.fits"


PREP_VERSION = 1   # bump when the rebinned or masked output of the same input changes


def source_key(path, **params) -> str:
    """The cache key of an output made from `path`: the source's name, size and modification time (ns), every
    parameter and `PREP_VERSION`, hashed to 16 hex digits (stored in the output's ``SRCKEY`` card)."""
    import hashlib
    import json

    st = Path(path).stat()
    blob = json.dumps({"name": Path(path).name, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                       "version": PREP_VERSION, **{k: params[k] for k in sorted(params)}}, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def reusable(out, key: str) -> bool:
    """True when `out` exists, is readable and its ``SRCKEY`` is `key` (made from the same source with the same
    parameters); a stale, foreign or corrupt output is logged and made again."""
    import logging

    from ..io.fits import read_image

    out = Path(out)
    if not out.exists():
        return False
    log = logging.getLogger("solarcnn.cirrus")
    try:
        header = read_image(out, 0, dtype=None)[1]
    except DataFileError as exc:
        log.warning("%s: unreadable (%s); making it again", out, exc.problem)
        return False
    if str(header.get("SRCKEY", "")).strip() != key:
        log.info("%s: made from another source file or with other parameters; making it again", out)
        return False
    log.debug("%s: reused (same source and parameters)", out)
    return True


def check_frame(path, data, *, constant: bool = True) -> None:
    """Raise `DataFileError` naming `path` when the frame holds NaN or inf pixels (or, with `constant`, when
    every pixel is equal)."""
    bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise DataFileError(path, f"frame holds {bad} NaN or inf pixel(s) of {np.size(data)}")
    if constant and np.size(data) and float(np.max(data)) == float(np.min(data)):
        raise DataFileError(path, f"frame is constant (every pixel = {float(np.min(data)):g}): no sky to use")


def check_collisions(paths, out_dir, name_of) -> list[Path]:
    """`paths` as a list, after checking that no two of them map to one output name (``a_flux.fits`` and
    ``a_flux.fits.gz``, or a path given twice): the second would overwrite the first's result and the same
    output would be counted twice.

    Raises:
        DataFileError: naming both inputs and the output they share.
    """
    paths = [Path(p) for p in paths]
    seen: dict[Path, Path] = {}
    for p in paths:
        out = Path(out_dir) / name_of(p)
        if out in seen:
            raise DataFileError(p, f"maps to the same output {out} as {seen[out]} (the same frame twice, or "
                                   "twins such as .fits and .fits.gz); pass each frame once")
        seen[out] = p
    return paths


def rebin_fits(path, out_dir, bin=BIN, *, overwrite: bool = True) -> Path:
    """Rebin HDU0 of one FITS file and write ``out_dir/<name>_binned.fits`` (header kept, float64 data).

    With ``overwrite=False`` an existing output is reused only when its ``SRCKEY`` card (`source_key`: the
    source's name, size and mtime, `bin`) matches; otherwise it is made again.

    Raises:
        DataFileError: unreadable file, no image, image not 2-D or not a multiple of `bin`, NaN/inf pixels.
    """
    from ..io.fits import read_image, write_image

    path = Path(path)
    out = Path(out_dir) / binned_name(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    key = source_key(path, bin=tuple(int(b) for b in bin))
    if not overwrite and reusable(out, key):
        return out
    data, header = read_image(path, 0, dtype="float64")
    if data.ndim != 2:
        raise DataFileError(path, f"HDU0 has {data.ndim} dimensions (shape {data.shape}); expected a 2-D frame")
    check_frame(path, data, constant=False)
    try:
        binned = rebin(data, bin)
    except ValueError:
        raise DataFileError(path, f"frame of shape {data.shape} cannot be block-averaged to {tuple(bin)} "
                                  "(each dimension must be an exact multiple)") from None
    factor = f"{data.shape[0] // bin[0]}x{data.shape[1] // bin[1]}"
    return write_image(out, binned, header, extra={"REBINNED": (factor, "block-mean binning factor"),
                                                   "SRCKEY": (key, "source name/size/mtime + parameters")})


def rebin_files(paths, out_dir, bin=BIN, *, n_jobs: int = 1, progress: bool = True,
                overwrite: bool = True) -> list[Path]:
    """Rebin many files in parallel (joblib threads, a tqdm progress bar); returns the output paths.

    Threads, not processes: per file the work is a fast-path FITS read, a NumPy block mean and a write, all of
    which release the GIL for most of their time, and threads start instantly and copy nothing.

    Args:
        paths: FITS files (512 × 640 frames for CIRRUS).
        out_dir: output folder (created).
        bin: output shape.
        n_jobs: worker threads; 1 runs serially, -1 uses every core.
        progress: show a progress bar.
        overwrite: rewrite existing outputs (False keeps those made from the same source with the same
            parameters, to resume; stale or corrupt ones are made again).

    Raises:
        DataFileError: a bad frame (`rebin_fits`), or two inputs with one output name (`check_collisions`).
    """
    from ..utils import parallel_map

    paths = check_collisions(paths, out_dir, binned_name)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    out_dir = os.fspath(out_dir)
    bin = tuple(bin)
    return parallel_map(lambda p: rebin_fits(p, out_dir, bin, overwrite=overwrite), paths, n_jobs=n_jobs,
                        progress=progress, desc="rebinning", backend="threading")
