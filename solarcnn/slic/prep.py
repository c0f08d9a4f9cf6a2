"""Slic training-data preparation: FITS folders → training-ready arrays.

Introduced in notebook 01. The faithful steps of the original ``data.py``
(reference spec ``slic.md`` §4), per image:

1. read the first image HDU as float64;
2. **skip the frame if any pixel equals 0** (the original's test for bad frames);
3. byte-scale per image: ``uint8(clip((x - min) / (max - min) * 255, 0, 255) + 0.5)``
   (``scipy.misc.imresize``'s first step, rounding half up);
4. resize with Pillow's bicubic filter to 256×256 (``imresize``'s second step);
5. flatten and prepend the label: one ``uint8`` row of 1 + 256·256 values.

Labels are the alphabetical order of the class folders, files are taken in
name order, and the faithful split sends the file with index ``j`` (counting
skipped files too) to validation when ``j % percent_split == 0``. That split
puts neighbouring frames of one sequence into both sets (leakage), so
`grouped_split` (whole observing sequences, seeded) is offered and is what the
later notebooks use.

Handled explicitly, beyond the original: NaN pixels and blank (constant)
frames are skipped with a reason instead of producing garbage, and a file that
cannot be read is reported by name and skipped (`prepare_directory`).
"""
from __future__ import annotations

import datetime as _dt
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..utils import atomic_path

FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fts", ".fit.gz", ".fts.gz")


def is_fits(path) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in FITS_SUFFIXES) and not name.startswith(".part-")


# -- per-image steps ------------------------------------------------------------------------------------------
def bytescale(image) -> np.ndarray:
    """Per-image min–max scaling to ``uint8`` 0…255, rounding half up (``scipy.misc.bytescale``).

    Raises:
        ValueError: the image is constant (max == min) or contains NaN or inf.
    """
    x = np.asarray(image)
    lo, hi = float(x.min()), float(x.max())          # NaN propagates into min and max, inf shows in them
    if not (np.isfinite(lo) and np.isfinite(hi)):
        n_bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"bytescale: image contains {n_bad} NaN or inf pixel(s); min-max scaling is undefined")
    if hi == lo:
        raise ValueError(f"bytescale: image is constant (all pixels = {lo:g}); min-max scaling is undefined")
    # (x - lo) * 255 / (hi - lo) in float64, in one buffer (integer images are converted on the fly). The
    # original also clips to [0, 255]; for lo <= x <= hi that cannot change the result, so it is not done.
    scaled = np.subtract(x, lo, dtype=np.float64)
    scaled *= 255.0 / (hi - lo)
    scaled += 0.5
    return scaled.astype(np.uint8)


def resize_bicubic(image_u8, size: int | tuple = 256) -> np.ndarray:
    """Pillow bicubic resize of a ``uint8`` image (antialiased when shrinking, like ``imresize``)."""
    from PIL import Image

    size = (size, size) if np.isscalar(size) else tuple(size)
    img = Image.fromarray(np.ascontiguousarray(image_u8, dtype=np.uint8))
    # PIL takes (width, height)
    return np.asarray(img.resize((int(size[1]), int(size[0])), Image.BICUBIC), dtype=np.uint8)


def preprocess(image, size: int | tuple = 256) -> np.ndarray:
    """The faithful Slic preprocessing of one image: byte-scale, then bicubic resize → ``uint8``."""
    return resize_bicubic(bytescale(image), size)


def frame_problem(image) -> str | None:
    """Why the preparation skips this frame (None: it is usable).

    ``"zero pixels"`` is the original's rule; NaN, inf and constant frames are
    the package's explicit additions (the original would have produced garbage:
    one ``+inf`` pixel byte-scales every other pixel to 0).
    """
    x = np.asarray(image)
    if np.issubdtype(x.dtype, np.floating):
        n_nan = int(np.isnan(x).sum())
        if n_nan:
            return f"{n_nan} NaN pixel(s)"
        n_inf = int(np.isinf(x).sum())
        if n_inf:
            return f"{n_inf} inf pixel(s)"
    n_zero = int((x == 0).sum())
    if n_zero:
        return f"{n_zero} zero pixel(s) (the original skips any frame containing a 0)"
    if x.size == 0 or float(np.nanmax(x)) == float(np.nanmin(x)):
        return "blank frame (all pixels equal)"
    return None


def read_frame(path, dtype="float64") -> tuple[np.ndarray, dict]:
    """Read the first image HDU (as float64 by default; None keeps the stored type) plus a few header values
    (``DATE_OBS``, ``WAVE``...).

    Raises:
        DataFileError: missing, corrupt, not 2-D.
    """
    from ..io.fits import read_image

    data, header = read_image(path, dtype=dtype)
    if data.ndim != 2:
        raise DataFileError(path, f"expected a 2-D image, found an array of shape {data.shape}")
    meta = {k: header.get(k) for k in ("DATE_OBS", "DATE-OBS", "TELESCOP", "INSTRUME", "WAVE", "WAVELNTH")}
    meta = {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in meta.items()}
    return data, meta


def observation_time(meta: dict, path=None) -> _dt.datetime | None:
    """``DATE_OBS`` (or ``DATE-OBS``) as a datetime, or None when absent or unparsable."""
    for key in ("DATE_OBS", "DATE-OBS"):
        v = meta.get(key)
        if isinstance(v, str) and len(v) >= 10:
            try:
                return _dt.datetime.fromisoformat(v.rstrip("Z"))
            except ValueError:
                continue
    return None


# -- folders ------------------------------------------------------------------------------------------------
def list_classes(root) -> list[str]:
    """Class folder names under `root`, alphabetically (the label order of the original)."""
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(root, "is not a directory of class folders")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataFileError(root, "contains no class folders (expected e.g. filaments/, flares/, ...)")
    return classes


def _stem(path) -> str:
    name = Path(path).name
    for s in FITS_SUFFIXES:
        if name.lower().endswith(s):
            return name[: -len(s)]
    return name


def duplicates(root) -> dict[Path, Path]:
    """Files that are twins of another in the same class folder (``f.fits`` and ``f.fits.gz``): ``{dropped:
    kept}``. The first by name is kept; the twins would map to one prepared file and be counted twice."""
    out = {}
    for c in list_classes(root):
        seen = {}
        for p in sorted(p for p in (Path(root) / c).iterdir() if p.is_file() and is_fits(p)):
            key = _stem(p).lower()
            if key in seen:
                out[p] = seen[key]
            else:
                seen[key] = p
    return out


def list_files(root, *, warn: bool = True) -> list[tuple[str, Path]]:
    """``(class, path)`` for every FITS file, classes alphabetical and files by name.

    Twins (``f.fits`` beside ``f.fits.gz``, see `duplicates`) are listed once, with a warning naming both.
    """
    dup = duplicates(root)
    if dup and warn:
        warnings.warn("Slic preparation: " + "; ".join(f"{d} is a twin of {k} (same name, another compression); "
                                                       f"using {k.name} only" for d, k in sorted(dup.items())),
                      stacklevel=2)
    out = []
    for c in list_classes(root):
        files = sorted(p for p in (Path(root) / c).iterdir() if p.is_file() and is_fits(p) and p not in dup)
        out += [(c, p) for p in files]
    return out


def faithful_split(n: int, percent_split: int = 10) -> np.ndarray:
    """Boolean validation mask of the original: index ``j`` goes to validation when ``j % percent_split == 0``."""
    if not isinstance(percent_split, (int, np.integer)) or percent_split < 1:
        raise ValueError(f"percent_split must be a positive integer; received {percent_split!r}")
    return np.arange(n) % percent_split == 0


def sequence_ids(times, max_gap_s: float = 600.0) -> np.ndarray:
    """Group time-ordered frames into observing sequences: a new sequence after a gap > `max_gap_s`.

    Args:
        times: datetimes (None entries each form their own sequence).
        max_gap_s: the largest gap (seconds) inside one sequence.

    Returns:
        Integer sequence ids, in the order of `times`.
    """
    times = list(times)
    order = sorted(range(len(times)), key=lambda i: (times[i] is None, times[i] or _dt.datetime.min, i))
    ids = np.empty(len(times), dtype=int)
    current, prev = -1, None
    for i in order:
        t = times[i]
        if t is None or prev is None or (t - prev).total_seconds() > max_gap_s:
            current += 1
        ids[i] = current
        prev = t
    return ids


def grouped_split(labels, groups, *, val_fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Seeded split that keeps every group (sequence) whole, stratified by class.

    For each class, ``round(val_fraction * n_groups)`` whole groups (at least
    one when the class has two or more) go to validation.

    Returns:
        Boolean validation mask.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1); received {val_fraction!r}")
    labels, groups = np.asarray(labels), np.asarray(groups)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        g = np.unique(groups[labels == c])
        k = int(round(val_fraction * len(g)))
        k = min(max(k, 1 if len(g) >= 2 else 0), len(g) - 1 if len(g) >= 2 else 0)
        chosen = rng.choice(g, size=k, replace=False) if k else []
        val |= (labels == c) & np.isin(groups, chosen)
    return val


# -- parallel, resumable preparation --------------------------------------------------------------------------
@dataclass
class PrepReport:
    """What `prepare_directory` did."""

    processed: list = field(default_factory=list)   # newly prepared files
    reused: list = field(default_factory=list)      # already prepared earlier (resumed)
    skipped: dict = field(default_factory=dict)     # path -> reason (zero pixels, NaN, blank)
    failed: dict = field(default_factory=dict)      # path -> error message (unreadable files)
    redone: dict = field(default_factory=dict)      # path -> why its earlier result was not reused
    duplicates: dict = field(default_factory=dict)  # twin path -> the path used instead
    output: str = ""                                # the output folder

    def __str__(self) -> str:
        lines = [f"prepared {len(self.processed)} new, reused {len(self.reused)}"
                 + (f" (from {self.output})" if self.reused and self.output else "")
                 + f", skipped {len(self.skipped)} frame(s), failed {len(self.failed)} file(s)"]
        if self.redone:
            lines.append(f"  made again {len(self.redone)} stale or unreadable earlier result(s)")
        lines += [f"  twin    {Path(p).name}: {Path(k).name} used instead" for p, k in sorted(self.duplicates.items())]
        lines += [f"  skipped {Path(p).name}: {r}" for p, r in sorted(self.skipped.items())]
        lines += [f"  FAILED  {Path(p).name}: {r}" for p, r in sorted(self.failed.items())]
        return "\n".join(lines)


PREP_VERSION = 1   # bump when `preprocess` or the stored layout changes


def _target(src_root: Path, dst_root: Path, path: Path) -> Path:
    rel = path.relative_to(src_root)
    return dst_root / rel.parent / (_stem(rel.name) + ".npz")


def cache_key(path, size) -> str:
    """What a prepared file was made from: the source's name, byte size and modification time (ns), the output
    `size` and `PREP_VERSION` (stored as ``key`` in each ``.npz``; a result is reused only when it matches)."""
    st = Path(path).stat()
    size = [int(s) for s in ((size, size) if np.isscalar(size) else size)]
    return json.dumps({"source": Path(path).name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "size": size,
                       "version": PREP_VERSION}, sort_keys=True)


def _cached(target: Path, key: str) -> tuple[str | None, str | None]:
    """``(problem, None)`` of a reusable result, else ``(None, why it is not reused)``."""
    if not target.exists():
        return None, None
    try:
        with np.load(target) as z:
            stored = str(z["key"]) if "key" in z.files else None
            problem = str(z["problem"])
    except Exception as exc:   # BadZipFile, EOFError, KeyError, ValueError ...
        return None, f"{target}: unreadable ({type(exc).__name__}: {exc})"
    if stored != key:
        return None, f"{target}: made from another source file or with other settings"
    return problem, None


def _prepare_one(args):
    path, target, size = args
    try:
        key = cache_key(path, size)
    except OSError as exc:
        return "failed", str(path), f"{path}: cannot stat ({exc})", None
    problem, why = _cached(target, key)
    if problem is not None:
        return "reused", str(path), problem or None, None
    try:
        data, meta = read_frame(path, dtype=None)      # stored type: bytescale converts once, exactly
    except DataFileError as exc:
        return "failed", str(path), str(exc), why
    problem = frame_problem(data)
    image = np.zeros((0, 0), np.uint8) if problem else preprocess(data, size)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, image=image, problem=np.array(problem or ""), meta=np.array(json.dumps(meta)),
                 key=np.array(key))
    return ("skipped" if problem else "processed"), str(path), problem, why


def prepare_directory(src, dst, *, size: int = 256, n_jobs: int = 1, progress: bool = True) -> PrepReport:
    """Preprocess every FITS file under the class folders of `src` into `dst`, in parallel and resumably.

    Each ``src/<class>/<file>.fits[.gz]`` becomes ``dst/<class>/<file>.npz``
    holding the faithful ``uint8`` image (`preprocess`), the reason it was
    skipped (zero pixels, NaN, inf, blank), its header times and the key of
    what made it (`cache_key`: source name, bytes and mtime, `size`, version).
    A result is reused only when its key matches, so an interrupted run
    resumes and a changed source or another `size` is prepared again; an
    unreadable (corrupt, truncated) result is made again too, and both are
    listed in ``report.redone``. A file that cannot be read is reported by
    name in ``report.failed`` (and a warning), not fatal and not silently
    dropped. Twins (``f.fits`` beside ``f.fits.gz``) are prepared once.

    Args:
        src: folder of class folders with FITS files.
        dst: output folder (created).
        size: output side in pixels (256 in the paper).
        n_jobs: worker threads (1: serial; -1: all cores). Threads, not processes: the fast FITS path,
            zlib, NumPy and Pillow release the GIL for most of each file, and threads start instantly.
        progress: show a progress bar.

    Returns:
        A `PrepReport`.
    """
    from ..utils import parallel_map

    import logging

    src, dst = Path(src), Path(dst)
    if isinstance(size, bool) or not all(isinstance(s, (int, np.integer)) and s >= 1
                                         for s in ((size,) if np.isscalar(size) else tuple(size))):
        raise ValueError(f"size must be a positive integer (or a pair of them); received {size!r}")
    if src.resolve() == dst.resolve() or src.resolve() in dst.resolve().parents:
        raise DataFileError(dst, f"output folder is inside the source folder {src}: its folders would be taken "
                                 "as classes by the next preparation; choose an output folder outside it")
    files = list_files(src)
    jobs = [(p, _target(src, dst, p), size) for _, p in files]
    out = parallel_map(_prepare_one, jobs, n_jobs=n_jobs, progress=progress, desc="preparing FITS",
                       backend="threading")
    report = PrepReport(output=str(dst), duplicates={str(k): str(v) for k, v in duplicates(src).items()})
    for status, path, msg, why in out:
        if why:
            report.redone[path] = why
        if status == "reused" and msg:
            report.reused.append(path)
            report.skipped[path] = msg
        elif status == "processed":
            report.processed.append(path)
        elif status == "reused":
            report.reused.append(path)
        elif status == "skipped":
            report.skipped[path] = msg
        else:
            report.failed[path] = msg
    if report.failed:
        warnings.warn(f"prepare_directory: {len(report.failed)} file(s) could not be read and were skipped: "
                      + "; ".join(report.failed.values()), stacklevel=2)
    log = logging.getLogger("solarcnn.slic")
    if report.reused:
        log.info("prepare_directory: reused %d prepared file(s) in %s (same source and settings)",
                 len(report.reused), dst)
    for why in report.redone.values():
        log.warning("prepare_directory: made again %s", why)
    return report


@dataclass
class SlicData:
    """Prepared arrays: images ``(N, size, size, 1)`` float32 in 0…255 and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: list
    files_train: list
    files_val: list
    groups_train: np.ndarray
    groups_val: np.ndarray
    report: PrepReport | None = None


def assemble(src, dst, *, split: str = "grouped", percent_split: int = 10, val_fraction: float = 0.2,
             seed: int = 0, max_gap_s: float = 600.0, report: PrepReport | None = None) -> SlicData:
    """Collect `prepare_directory`'s results into train/validation arrays.

    Args:
        src: the FITS folder given to `prepare_directory` (defines labels and file order).
        dst: its output folder.
        split: ``"faithful"`` (every `percent_split`-th file per class, the
            original) or ``"grouped"`` (whole sequences, seeded; the default).
        percent_split: the faithful split's modulus (10 → 10 %).
        val_fraction: fraction of sequences per class in validation (grouped).
        seed: the grouped split's seed.
        max_gap_s: a gap longer than this (seconds, from ``DATE_OBS``) starts a new sequence.
    """
    if split not in ("faithful", "grouped"):
        raise ValueError(f"split must be 'faithful' or 'grouped'; received {split!r}")
    src, dst = Path(src), Path(dst)
    classes = list_classes(src)
    files = list_files(src, warn=False)
    images, labels, paths, times, val, failed = [], [], [], [], [], []
    for c in classes:
        cfiles = [p for cc, p in files if cc == c]
        fmask = faithful_split(len(cfiles), percent_split)
        for j, p in enumerate(cfiles):  # j counts skipped files too, as in the original
            t = _target(src, dst, p)
            if not t.exists():
                failed.append(p)
                continue
            try:
                with np.load(t) as z:
                    problem, image, meta = str(z["problem"]), z["image"], json.loads(str(z["meta"]))
            except Exception as exc:
                raise DataFileError(t, f"prepared result is unreadable ({type(exc).__name__}: {exc}); run "
                                       "prepare_directory again, it makes such files again") from None
            if problem:
                continue
            if images and image.shape != images[0].shape:
                raise DataFileError(t, f"prepared image has shape {image.shape}, the others {images[0].shape}: "
                                       "the folder mixes results of different sizes; prepare it again")
            images.append(image)
            labels.append(classes.index(c))
            paths.append(str(p))
            times.append(observation_time(meta))
            val.append(bool(fmask[j]))
    if not images:
        raise DataFileError(src, "no usable frames after preparation (every file failed or was skipped)")
    x = np.stack(images)[..., None].astype("float32")
    y = np.asarray(labels, dtype="int64")
    groups = sequence_ids(times, max_gap_s)
    if split == "grouped":
        val = grouped_split(y, groups, val_fraction=val_fraction, seed=seed)
    else:
        val = np.asarray(val, dtype=bool)
    paths = np.asarray(paths)
    return SlicData(x[~val], y[~val], x[val], y[val], classes, list(paths[~val]), list(paths[val]),
                    groups[~val], groups[val], report)


def leakage(data: SlicData) -> int:
    """Number of validation frames whose sequence also has frames in the training set."""
    return int(np.isin(data.groups_val, data.groups_train).sum())


# -- the original's npz layout --------------------------------------------------------------------------------
def to_rows(images, labels) -> np.ndarray:
    """Rows of the original npz: ``uint8`` label in column 0, then the flattened image."""
    images = np.asarray(images)
    n = images.shape[0]
    flat = np.clip(np.rint(images.reshape(n, -1)), 0, 255).astype(np.uint8)
    return np.concatenate([np.asarray(labels, dtype=np.uint8).reshape(n, 1), flat], axis=1)


def save_npz(path, images, labels) -> Path:
    """Write the original's single-key layout: ``np.savez_compressed(path, data=rows)``."""
    path = Path(path)
    rows = to_rows(images, labels)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:      # never a half file under the final name
        np.savez_compressed(fh, data=rows)
    return path


def load_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a Slic npz into ``(images (N, s, s, 1) float32 in 0…255, labels int64)``.

    Raises:
        DataFileError: missing key ``data``, wrong dtype, or rows that are not 1 + s² long.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    try:
        z = np.load(path)
    except Exception as exc:
        raise DataFileError(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    with z:
        if "data" not in z.files:
            raise DataFileError(path, f"has no key 'data' (keys: {z.files}); expected the Slic layout")
        rows = z["data"]
    if rows.ndim != 2 or rows.dtype != np.uint8:
        raise DataFileError(path, f"'data' must be a 2-D uint8 array; found shape {rows.shape}, dtype {rows.dtype}")
    side = int(round(np.sqrt(rows.shape[1] - 1)))
    if side * side + 1 != rows.shape[1]:
        raise DataFileError(path, f"rows have length {rows.shape[1]}, not 1 + size² (label + square image)")
    return rows[:, 1:].reshape(-1, side, side, 1).astype("float32"), rows[:, 0].astype("int64")


def train_test_data(dataset, percent_split: int = 10, save_dir=None, *, size: int = 256, work_dir=None,
                    n_jobs: int = 1, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The original ``data.py`` end to end: rows for training and validation, optionally saved.

    Faithful split (every `percent_split`-th file per class), npz files
    ``solar_train_data.npz`` and ``solar_test_data.npz`` in `save_dir`.

    Returns:
        ``(train_rows, val_rows)`` as ``uint8`` arrays of shape ``(N, 1 + size²)``.
    """
    import tempfile

    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="slic_prep_"))
    report = prepare_directory(dataset, work, size=size, n_jobs=n_jobs, progress=progress)
    d = assemble(dataset, work, split="faithful", percent_split=percent_split, report=report)
    train, val = to_rows(d.x_train, d.y_train), to_rows(d.x_val, d.y_val)
    if save_dir is not None:
        save_npz(Path(save_dir) / "solar_train_data.npz", d.x_train, d.y_train)
        save_npz(Path(save_dir) / "solar_test_data.npz", d.x_val, d.y_val)
    return train, val
