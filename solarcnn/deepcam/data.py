"""DeepCAM data handling: reading samples, ``stats.h5``, the 80/10/10 split, and the streaming loader.

Introduced in notebook 05. Everything follows the MLPerf HPC reference
(``mlcommons/hpc`` ``deepcam/src/utils/split_data.py``, ``summarize_data.py``
and ``deepCam/data/cam_hdf5_dataset.py``):

- one sample per HDF5 file: ``climate/data`` (H, W, 16) float32 and
  ``climate/labels_0`` (H, W) float32 holding 0/1/2;
- normalisation is **min–max only**: ``x' = (x - minval[c]) / (maxval[c] - minval[c])``
  with the train-split ``stats.h5`` (``mean`` and ``sqmean`` are written but unused);
- `split_files`: sorted ``data*.h5``, NumPy seed 12345, shuffle, int(0.8 N) /
  int(0.1 N) / rest into ``train/``, ``validation/``, ``test/`` (symbolic links);
- `summarize`: per-file mean, mean of squares, min and max over H and W, merged
  with file-count weights (min/max global); parallel over files, optionally over
  MPI ranks; writes ``stats.h5`` with the real file's fields.

`CamDataset` is a backend-agnostic `keras.utils.PyDataset` that opens each file
only when its batch is requested, shuffles per epoch (deterministically, so a
resumed run sees the same order), shards by process and prefetches with workers.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..utils import atomic_path

NUM_CHANNELS = 16
DATA_KEY = "climate/data"
LABEL_KEY = "climate/labels_0"
STATS_FIELDS = ("count", "mean", "sqmean", "minval", "maxval")
SPLIT_SEED = 12345


# ---------------------------------------------------------------------------------------------------------
# files and samples
# ---------------------------------------------------------------------------------------------------------
def list_files(directory, prefix: str = "data") -> list[Path]:
    """The sorted ``<prefix>*.h5`` files of a folder (following symbolic links)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFileError(directory, "folder not found (expected a folder of DeepCAM .h5 files)")
    return sorted(p for p in directory.iterdir() if p.name.startswith(prefix) and p.name.endswith(".h5"))


def _open(path):
    import h5py

    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(path, f"not a readable HDF5 file ({exc})") from None


def read_sample(path, channels=None, *, label_key: str = LABEL_KEY, num_channels: int = NUM_CHANNELS,
                check_finite: bool = True, out: np.ndarray | None = None,
                normalize: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read one DeepCAM file: fields ``(H, W, len(channels))`` float32 and labels ``(H, W)`` int32.

    Args:
        path: the HDF5 file.
        channels: channel indices to read (None: all).
        label_key: the label dataset.
        num_channels: the channel count the file must have.
        check_finite: raise on NaN or inf.
        out: optional C-contiguous float32 array of the fields' shape to read into (e.g. one slice of a
            batch array); it is returned. A file of another shape raises ("the other files have ...").
        normalize: optional ``(shift, scale)`` per channel (`minmax_params`): the fields come back as
            ``scale * (x - shift)``. Reading, checking and normalising then run block by block (about 512 KiB
            at a time, which stays in the CPU cache), so each value crosses the memory bus once instead of
            once per pass.

    Raises:
        DataFileError: missing file or dataset, wrong rank or channel count, label/data shape mismatch,
            a shape different from `out`'s, labels outside {0, 1, 2}, or NaN/inf values.
    """
    with _open(path) as fh:
        for key in (DATA_KEY, label_key):
            if key not in fh:
                raise DataFileError(path, f"dataset '{key}' missing; found {_list_datasets(fh)}")
        ds = fh[DATA_KEY]
        if ds.ndim != 3:
            raise DataFileError(path, f"'{DATA_KEY}' must be (height, width, channels); found shape {ds.shape}")
        if ds.shape[-1] != num_channels:
            raise DataFileError(path, f"'{DATA_KEY}' has {ds.shape[-1]} channels; expected {num_channels} "
                                f"(shape {ds.shape})")
        if channels is not None:
            channels = _check_channels(channels, num_channels)
        shape = ds.shape if channels is None else ds.shape[:2] + (len(channels),)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif out.shape != shape:
            raise DataFileError(path, f"'{DATA_KEY}' has shape {shape}; the other files have {out.shape}")
        elif out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 array; received dtype {out.dtype}, "
                             f"contiguous={out.flags.c_contiguous}")
        offset = _raw_offset(ds) if channels is None else None
        if offset is not None:
            # contiguous float32 on disk: one plain file read (no h5py lock, no GIL held)
            with open(path, "rb", buffering=0) as raw:
                raw.seek(offset)
                _fill(raw, out.reshape(-1), path)
            _blockwise(out, path, normalize, check_finite)
        else:
            if channels is None:
                ds.read_direct(out)      # straight into the caller's memory, converted to float32 by HDF5
            else:
                uniq, inverse = np.unique(channels, return_inverse=True)   # HDF5 wants increasing indices
                out[...] = ds[..., uniq.tolist()][..., inverse]
            _blockwise(out, path, normalize, check_finite)
        lab = fh[label_key]
        if lab.shape != ds.shape[:2]:
            raise DataFileError(path, f"'{label_key}' has shape {lab.shape}; expected {ds.shape[:2]} to match "
                                f"'{DATA_KEY}'")
        y = lab[()]
    return out, _check_labels(path, y, label_key, check_finite)


def _check_labels(path, y, label_key: str, check_finite: bool = True) -> np.ndarray:
    """`y` as int32 after checking that it holds only the classes 0, 1, 2 (and no NaN or inf)."""
    if check_finite or not np.issubdtype(np.asarray(y).dtype, np.floating):
        if not np.all(np.isfinite(y)):
            raise DataFileError(path, f"'{label_key}' contains NaN or inf values")
    with np.errstate(invalid="ignore"):
        yi = np.asarray(y).astype(np.int32)
    if yi.size and (yi.min() < 0 or yi.max() > 2 or not np.array_equal(yi, y)):
        raise DataFileError(path, f"'{label_key}' must hold the classes 0, 1, 2; found values "
                            f"{np.unique(y)[:10].tolist()}")
    return yi


def _raw_offset(ds) -> int | None:
    """Byte offset of a dataset stored as one contiguous, unfiltered block of little-endian float32 (the
    benchmark's files), else None. Such a block can be read with a plain file read, which, unlike h5py's
    calls, releases the GIL and runs in parallel with other threads (the loader's prefetch workers)."""
    try:
        if ds.dtype != np.dtype("<f4") or ds.chunks is not None or ds.compression is not None or ds.is_virtual:
            return None
        if ds.id.get_create_plist().get_external_count():
            return None
        return ds.id.get_offset()            # None when no storage is allocated
    except Exception:                        # anything unusual: let HDF5 read it
        return None


_BLOCK_BYTES = 512 * 1024


def _fill(fh, block: np.ndarray, path) -> None:
    """Read the next ``block.nbytes`` bytes of `fh` into `block` (a contiguous piece of the output)."""
    view = memoryview(block).cast("B")
    got = fh.readinto(view)
    while got < view.nbytes:                     # readinto may return short counts
        more = fh.readinto(view[got:])
        if not more:
            raise DataFileError(path, f"'{DATA_KEY}' is truncated: a block ended after {got} of {view.nbytes} bytes")
        got += more


_TILED: dict = {}


def _tiled(normalize, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """`normalize`'s (shift, scale) repeated `reps` times (cached: the same for every sample)."""
    shift, scale = (np.ascontiguousarray(v, dtype=np.float32) for v in normalize)
    key = (shift.tobytes(), scale.tobytes(), reps)
    if key not in _TILED:
        if len(_TILED) > 8:
            _TILED.clear()
        _TILED[key] = (np.tile(shift, reps), np.tile(scale, reps))
    return _TILED[key]


def _blockwise(out: np.ndarray, path, normalize, check_finite: bool, fill=None) -> None:
    """Fill (optionally), check and normalise `out` in place, one cache-sized block of pixels at a time.

    The finiteness test is a float32 sum per block: a NaN or inf makes it non-finite. (Finite values would
    have to be near 1e34 to overflow it, so a non-finite sum is confirmed value by value before an error,
    which then names the bad channels.)
    """
    channels = out.shape[-1]
    flat = out.reshape(-1)
    step = max(1, _BLOCK_BYTES // (4 * channels)) * channels        # whole pixels per block
    if normalize is not None:
        # the per-channel constants repeated over one block: the arithmetic then runs on flat, contiguous
        # vectors (broadcasting a 16-vector along the last axis would run numpy's loops 16 values at a time)
        shift, scale = _tiled(normalize, step // channels)
    for start in range(0, flat.shape[0], step):
        blk = flat[start:start + step]
        if fill is not None:
            fill(blk)
        if check_finite and not np.isfinite(blk.sum(dtype=np.float32)):
            bad = np.unique(np.nonzero(~np.isfinite(blk.reshape(-1, channels)))[-1]).tolist()
            if bad:
                raise DataFileError(path, f"'{DATA_KEY}' contains NaN or inf values (channel index {bad})")
        if normalize is not None:
            n = blk.shape[0]
            np.subtract(blk, shift[:n], out=blk)
            np.multiply(blk, scale[:n], out=blk)


def sample_shape(path, channels=None) -> tuple[int, int, int]:
    """The fields' shape ``(H, W, C)`` of one file (metadata only; `read_sample` does the full checks)."""
    with _open(path) as fh:
        if DATA_KEY not in fh:
            raise DataFileError(path, f"dataset '{DATA_KEY}' missing; found {_list_datasets(fh)}")
        shape = fh[DATA_KEY].shape
    if len(shape) != 3:
        raise DataFileError(path, f"'{DATA_KEY}' must be (height, width, channels); found shape {shape}")
    return tuple(shape) if channels is None else tuple(shape[:2]) + (len(channels),)


def _list_datasets(fh) -> list[str]:
    names = []
    fh.visititems(lambda n, o: names.append(n) if hasattr(o, "shape") else None)
    return names


# ---------------------------------------------------------------------------------------------------------
# stats.h5
# ---------------------------------------------------------------------------------------------------------
def read_stats(path, num_channels: int = NUM_CHANNELS) -> dict:
    """Read a DeepCAM ``stats.h5`` into ``{count, mean, sqmean, minval, maxval}`` (NumPy arrays).

    Raises:
        DataFileError: missing file or field, wrong shape, or maxval <= minval for a channel.
    """
    out = {}
    with _open(path) as fh:
        for field in STATS_FIELDS:
            key = f"climate/{field}"
            if key not in fh:
                raise DataFileError(path, f"dataset '{key}' missing; found {_list_datasets(fh)}")
            out[field] = fh[key][()]
    for field in STATS_FIELDS[1:]:
        arr = np.asarray(out[field], dtype=np.float32)
        if arr.shape != (num_channels,):
            raise DataFileError(path, f"'climate/{field}' has shape {arr.shape}; expected ({num_channels},)")
        out[field] = arr
    out["count"] = int(out["count"])
    bad = np.nonzero(~(out["maxval"] > out["minval"]))[0]
    if bad.size:
        raise DataFileError(path, f"maxval must exceed minval; it does not for channel(s) {bad.tolist()}")
    return out


def _check_channels(channels, num_channels: int = NUM_CHANNELS) -> list[int]:
    """`channels` as a list of ints in ``0..num_channels-1`` (ValueError showing the received value)."""
    try:
        idx = np.asarray(list(channels))
    except TypeError:
        idx = np.asarray([channels])
    if idx.size == 0 or idx.ndim != 1 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= num_channels:
        raise ValueError(f"channels must be a non-empty list of channel indices 0..{num_channels - 1}; "
                         f"received {channels!r}")
    return idx.tolist()


def minmax_params(stats: dict, channels=None) -> tuple[np.ndarray, np.ndarray]:
    """The reference normalisation: ``shift = minval``, ``scale = 1 / (maxval - minval)`` (float32).

    Raises:
        ValueError: `stats` lacks ``minval``/``maxval``, they are not finite, or ``maxval <= minval`` for a
            channel (the scale would be infinite).
    """
    try:
        lo = np.asarray(stats["minval"], dtype=np.float32).reshape(-1)
        hi = np.asarray(stats["maxval"], dtype=np.float32).reshape(-1)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"stats must hold 'minval' and 'maxval' arrays (read_stats); received {type(stats).__name__} "
                         f"({exc})") from None
    if lo.shape != hi.shape:
        raise ValueError(f"stats minval and maxval differ in shape: {lo.shape} and {hi.shape}")
    if channels is not None:
        channels = _check_channels(channels, len(lo))
        lo, hi = lo[channels], hi[channels]
    bad = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi) & (hi > lo)))
    if bad.size:
        raise ValueError(f"stats: maxval must be finite and exceed minval for every channel; it does not for "
                         f"channel(s) {bad.tolist()} (minval {lo[bad][:4].tolist()}, maxval {hi[bad][:4].tolist()})")
    return lo, (1.0 / (hi - lo)).astype(np.float32)


def normalize(x: np.ndarray, stats: dict, channels=None, *, out: np.ndarray | None = None) -> np.ndarray:
    """Min–max normalise fields ``(..., C)`` with `stats` (minval -> 0, maxval -> 1), float32.

    ``scale * (x - shift)`` computed in one float32 buffer: a new one, or `out` (``out=x`` normalises
    a float32 array in place).
    """
    shift, scale = minmax_params(stats, channels)
    return _normalize_into(np.asarray(x), shift, scale, out)


def _normalize_into(x, shift, scale, out=None):
    if out is None:
        out = np.array(x, dtype=np.float32, copy=True)
    elif out is not x:
        out[...] = x
    np.subtract(out, shift, out=out)
    np.multiply(out, scale, out=out)
    return out


def std_from_stats(stats: dict) -> np.ndarray:
    """Per-channel standard deviation ``sqrt(sqmean - mean²)`` (not used by the benchmark)."""
    return np.sqrt(np.maximum(stats["sqmean"].astype(np.float64) - stats["mean"].astype(np.float64) ** 2, 0.0))


def file_token(path) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-file statistics token ``(n=1, mean, meansq, min, max)`` over H and W (float64)."""
    x, _ = read_sample(path, check_finite=True)
    x = x.astype(np.float64)
    return 1, x.mean(axis=(0, 1)), (x * x).mean(axis=(0, 1)), x.min(axis=(0, 1)), x.max(axis=(0, 1))


def merge_tokens(tokens):
    """Merge tokens with file-count weights; min and max are global."""
    tokens = list(tokens)
    if not tokens:
        raise ValueError("merge_tokens: no tokens (no files to summarise)")
    n = sum(t[0] for t in tokens)
    mean = sum(t[0] * t[1] for t in tokens) / n
    sq = sum(t[0] * t[2] for t in tokens) / n
    lo = np.min(np.stack([t[3] for t in tokens]), axis=0)
    hi = np.max(np.stack([t[4] for t in tokens]), axis=0)
    return n, mean, sq, lo, hi


def write_stats(path, token) -> Path:
    """Write a merged token as ``stats.h5`` with the real file's fields and dtypes."""
    import h5py

    n, mean, sq, lo, hi = token
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        g = fh.create_group("climate")
        g.create_dataset("count", data=np.int64(n))
        g.create_dataset("mean", data=np.asarray(mean, dtype=np.float32))
        g.create_dataset("sqmean", data=np.asarray(sq, dtype=np.float32))
        g.create_dataset("minval", data=np.asarray(lo, dtype=np.float32))
        g.create_dataset("maxval", data=np.asarray(hi, dtype=np.float32))
    return path


def summarize(directory, output, *, prefix: str = "data-", n_jobs: int = 1, use_mpi: bool = False,
              progress: bool = False) -> Path:
    """Compute ``stats.h5`` of the files in `directory` (the reference uses ``<root>/train`` only).

    Args:
        directory: folder of ``data-*.h5`` files.
        output: the ``stats.h5`` to write.
        prefix: file-name prefix to include (``"data-"`` as the reference).
        n_jobs: worker processes per rank (`solarcnn.utils.parallel_map`).
        use_mpi: split the files over MPI ranks (``mpi4py``; contiguous chunks of ceil(N / size)),
            merge with an all-reduce, and write from rank 0 only.
    """
    from ..utils import parallel_map

    files = sorted(p for p in Path(directory).iterdir() if p.name.startswith(prefix) and p.name.endswith(".h5")) \
        if Path(directory).is_dir() else None
    if files is None:
        raise DataFileError(directory, "folder not found (expected the train split's .h5 files)")
    rank, size, comm = 0, 1, None
    if use_mpi:
        from mpi4py import MPI  # optional dependency

        comm = MPI.COMM_WORLD
        rank, size = comm.Get_rank(), comm.Get_size()
    chunk = math.ceil(len(files) / size) if files else 0
    mine = files[rank * chunk:(rank + 1) * chunk]
    if not files:
        raise DataFileError(directory, f"no '{prefix}*.h5' files to summarise")
    tokens = parallel_map(file_token, mine, n_jobs=n_jobs, progress=progress, desc="summarize")
    local = merge_tokens(tokens) if tokens else (0, np.zeros(NUM_CHANNELS), np.zeros(NUM_CHANNELS),
                                                 np.full(NUM_CHANNELS, np.inf), np.full(NUM_CHANNELS, -np.inf))
    if comm is not None:
        from mpi4py import MPI

        n = comm.allreduce(local[0], op=MPI.SUM)
        mean = comm.allreduce(local[0] * local[1], op=MPI.SUM) / n
        sq = comm.allreduce(local[0] * local[2], op=MPI.SUM) / n
        lo = np.min(np.stack(comm.allgather(local[3])), axis=0)
        hi = np.max(np.stack(comm.allgather(local[4])), axis=0)
        merged = (n, mean, sq, lo, hi)
    else:
        merged = local
    if rank == 0:
        write_stats(output, merged)
    return Path(output)


# ---------------------------------------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------------------------------------
def split_counts(n: int, fractions=(0.8, 0.1)) -> tuple[int, int, int]:
    """Reference split sizes: ``int(0.8 n)``, ``int(0.1 n)``, the rest (151,583 -> 121,266 / 15,158 / 15,159)."""
    n_train, n_val = int(fractions[0] * n), int(fractions[1] * n)
    return n_train, n_val, n - n_train - n_val


def split_files(directory, output=None, *, seed: int = SPLIT_SEED, fractions=(0.8, 0.1), link: str = "symlink",
                prefix: str = "data") -> dict[str, list[Path]]:
    """Split the ``data*.h5`` files of `directory` into train/validation/test as the reference does.

    The sorted file list is shuffled with ``np.random.seed(seed); np.random.shuffle`` (the legacy global
    generator, as the reference), then cut by `split_counts`.

    Args:
        directory: the folder of all samples.
        output: where ``train/``, ``validation/``, ``test/`` are made (None: only return the lists).
        link: ``"symlink"`` (reference), ``"copy"`` or ``"none"``.

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}`` of source paths.

    Raises:
        DataFileError: no files, or an `output` whose split folders overlap the source (e.g. re-splitting
            ``root/train`` into ``root``): refused before anything is written, the originals are never touched.
    """
    if link not in ("symlink", "copy", "none"):
        raise ValueError(f"link must be 'symlink', 'copy' or 'none'; received {link!r}")
    files = list_files(directory, prefix)
    if not files:
        raise DataFileError(directory, f"no '{prefix}*.h5' files to split")
    order = np.arange(len(files))
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        np.random.shuffle(order)
    finally:
        np.random.set_state(state)
    shuffled = [files[i] for i in order]
    n_train, n_val, _ = split_counts(len(files), fractions)
    parts = {"train": shuffled[:n_train], "validation": shuffled[n_train:n_train + n_val],
             "test": shuffled[n_train + n_val:]}
    if output is not None and link != "none":
        _write_split(Path(directory), Path(output), files, parts, link)
    return parts


def _write_split(directory: Path, output: Path, files: list[Path], parts: dict, link: str) -> None:
    """Make ``output/<part>/`` links (or copies) safely: the sources are never touched.

    Every check runs before anything is written: a split folder that is the source folder (re-splitting
    ``root/train`` into ``root``) or a destination that is one of the source files is refused. Each link or
    copy is made under a temporary name and renamed over the destination, so an interrupted split leaves
    every destination either old or new, never missing. Links (and copies) of source files left in a part
    folder by an earlier split with other settings are removed, so no file ends up in two parts. A regular
    file is replaced or removed only when it is a copy of the source file of that name (same size and
    modification time, as ``shutil.copy2`` leaves it); any other file is refused, never overwritten.
    """
    import shutil

    src_dir = directory.resolve()
    sources = {os.path.abspath(f) for f in files}
    real_sources = {f.resolve() for f in files}
    by_name = {f.name: f for f in files}
    names = set(by_name)

    def ours(path: Path) -> bool:
        """`path` is a link, or a copy of the source file of its name (which a split may replace)."""
        if path.is_symlink():
            return True
        src = by_name.get(path.name)
        if src is None:
            return False
        a, b = path.stat(), Path(src).stat()
        return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)

    for name in parts:
        target = output / name
        if target.is_dir():
            for old in target.iterdir():
                if old.name in names and old.is_file() and not ours(old) and old.resolve() not in real_sources:
                    raise DataFileError(old, f"a file of the '{name}' split folder that is neither a link nor a copy "
                                             f"of {by_name[old.name]}; refusing to replace or remove it. Move it "
                                             "away or split into another output folder")
    for name, members in parts.items():
        target = output / name
        if target.exists() and target.resolve() == src_dir:
            raise DataFileError(target, f"the '{name}' split folder is the source folder {directory} itself; "
                                        "splitting a folder into its own parent would replace the original files. "
                                        "Split into another output folder")
        if target.exists() and not target.is_dir():
            raise DataFileError(target, f"exists and is not a folder (the '{name}' split folder)")
        for src in members:
            dst = target / src.name
            if os.path.abspath(dst) in sources or (dst.exists() and not dst.is_symlink()
                                                   and dst.resolve() in real_sources):
                raise DataFileError(dst, f"destination is one of the source files of {directory}; refusing to "
                                         "replace an original. Split into another output folder")
    for name, members in parts.items():
        target = output / name
        target.mkdir(parents=True, exist_ok=True)
        mine = {m.name for m in members}
        for old in target.iterdir():   # a source file of another part, from an earlier split: remove the link/copy
            if old.name in names and old.name not in mine and (old.is_symlink() or old.is_file()):
                if old.is_symlink() or (old.resolve() not in real_sources and ours(old)):
                    old.unlink()
        for src in members:
            with atomic_path(target / src.name) as tmp:
                if link == "symlink":
                    tmp.symlink_to(Path(src).resolve())
                else:
                    shutil.copy2(src, tmp)


# ---------------------------------------------------------------------------------------------------------
# streaming loader
# ---------------------------------------------------------------------------------------------------------
_POOLS: dict = {}


def _reader_pool(threads: int):
    """A process-wide thread pool per size (made once, reused by every batch and dataset)."""
    from concurrent.futures import ThreadPoolExecutor

    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="camdata")
    return _POOLS[threads]


def _pydataset_base():
    import keras

    return keras.utils.PyDataset


class CamDataset(_pydataset_base()):
    """Streaming DeepCAM loader: lazily read, min–max normalised, shuffled, sharded batches.

    Args:
        files: a folder of ``data*.h5`` files or a list of paths.
        stats: a ``stats.h5`` path or the dict of `read_stats`.
        batch_size: local (per-process) batch size.
        channels: channel indices to read (None: all 16, the reference default).
        shuffle: reshuffle the file order every epoch (order = permutation with ``seed + epoch``,
            identical in every process, so shards never overlap and a resumed run sees the same order).
        seed: shuffling seed.
        num_shards, shard_index: this process's share for multi-worker runs (defaults 1 and 0; see
            `process_shard` for the environment of ``keras.distribution`` / SLURM / MPI launches).
        drop_last: drop the incomplete last batch (the reference's training loader does).
        workers, use_multiprocessing, max_queue_size: `keras.utils.PyDataset` prefetching.
        label_key: ``"climate/labels_0"`` (the benchmark's) or ``"climate/labels_1"``.
        return_labels: False yields only the fields (for prediction).
        read_threads: threads reading the samples of one batch side by side (default: batch size, at most
            the usable cores; 1 reads them one after another).

    Raises:
        DataFileError: (when a batch is read) a file with a missing dataset, a wrong shape or channel count,
            NaN values, or a shape different from the first file's.
    """

    def __init__(self, files, stats, batch_size: int = 2, *, channels=None, shuffle: bool = True, seed: int = 0,
                 num_shards: int = 1, shard_index: int = 0, drop_last: bool = True, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 4, label_key: str = LABEL_KEY,
                 return_labels: bool = True, read_threads: int | None = None):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        folder = None
        if isinstance(files, (str, os.PathLike)):
            folder = Path(files)
            files = list_files(folder)
        self.files = [Path(f) for f in files]
        if not self.files:
            if folder is not None:
                raise DataFileError(folder, "CamDataset: no files matching 'data*.h5' in this folder")
            raise ValueError("CamDataset: no files given (received an empty list of paths)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; received {batch_size!r}")
        if num_shards < 1 or not 0 <= shard_index < num_shards:
            raise ValueError(f"need num_shards >= 1 and 0 <= shard_index < num_shards; received "
                             f"num_shards={num_shards!r}, shard_index={shard_index!r}")
        self.stats = read_stats(stats) if isinstance(stats, (str, os.PathLike)) else stats
        self.channels = None if channels is None else _check_channels(channels)
        self.shift, self.scale = minmax_params(self.stats, self.channels)
        self.batch_size = int(batch_size)
        self.shuffle, self.seed = bool(shuffle), int(seed)
        self.num_shards, self.shard_index = int(num_shards), int(shard_index)
        self.drop_last = bool(drop_last)
        self.label_key = label_key
        self.return_labels = bool(return_labels)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.read_threads = max(1, int(read_threads) if read_threads is not None else min(self.batch_size, cores))
        self.epoch = 0
        self._shape = None
        if len(self._indices()) == 0:
            raise ValueError(f"CamDataset: {len(self.files)} file(s) give no batch of {self.batch_size} for "
                             f"{self.num_shards} shard(s) (drop_last={self.drop_last})")

    def _indices(self) -> np.ndarray:
        n = len(self.files)
        order = np.random.RandomState(self.seed + self.epoch).permutation(n) if self.shuffle else np.arange(n)
        per_shard = n // self.num_shards if self.drop_last else math.ceil(n / self.num_shards)
        if not self.drop_last:   # pad by wrapping, as torch's DistributedSampler does
            order = np.concatenate([order, order[:per_shard * self.num_shards - n]])
        order = order[:per_shard * self.num_shards]
        mine = order[self.shard_index::self.num_shards]
        if self.drop_last:
            mine = mine[:len(mine) // self.batch_size * self.batch_size]
        return mine

    def __len__(self) -> int:
        return math.ceil(len(self._indices()) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffling order of `epoch` (used when resuming)."""
        self.epoch = int(epoch)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def read(self, path, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One normalised sample ``(x, y)`` from `path` (into `out` if given), with the shape checked against
        the first file's."""
        if self._shape is None:
            self._shape = sample_shape(path, self.channels)
        if out is None:
            out = np.empty(self._shape, dtype=np.float32)
        return read_sample(path, self.channels, label_key=self.label_key, out=out,
                           normalize=(self.shift, self.scale))

    def __getitem__(self, index: int):
        idx = self._indices()
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range 0..{len(self) - 1}")
        chosen = idx[index * self.batch_size:(index + 1) * self.batch_size]
        if self._shape is None:
            self._shape = sample_shape(self.files[chosen[0]], self.channels)
        # one batch array; each file is read into its slice and normalised there (no per-sample
        # temporaries, no stacking copy)
        x = np.empty((len(chosen),) + tuple(self._shape), dtype=np.float32)
        jobs = [(self.files[i], x[k]) for k, i in enumerate(chosen)]
        if self.read_threads > 1 and len(jobs) > 1:
            # the file reads and NumPy passes release the GIL: the samples of a batch load side by side
            labels = [y for _, y in _reader_pool(self.read_threads).map(lambda job: self.read(*job), jobs)]
        else:
            labels = [self.read(path, out=slot)[1] for path, slot in jobs]
        if not self.return_labels:
            return (x,)
        return x, np.stack(labels)

    def labels(self) -> np.ndarray:
        """All labels of this shard in the current order (reads only the label datasets)."""
        out = []
        for i in self._indices():
            path = self.files[i]
            with _open(path) as fh:
                if self.label_key not in fh:
                    raise DataFileError(path, f"dataset '{self.label_key}' missing; found {_list_datasets(fh)}")
                y = fh[self.label_key][()]
            out.append(_check_labels(path, y, self.label_key))
        return np.stack(out)


def process_shard() -> tuple[int, int]:
    """``(num_shards, shard_index)`` of this process from the launch environment.

    Looks at ``keras.distribution`` (JAX multi-process), then SLURM (``SLURM_NTASKS``/``SLURM_PROCID``),
    then Open MPI (``OMPI_COMM_WORLD_SIZE``/``_RANK``); ``(1, 0)`` for a single process.
    """
    try:
        import keras

        dist = keras.distribution.distribution()
        if dist is not None and getattr(dist, "_num_process", 1) > 1:
            return int(dist._num_process), int(dist._process_id)
    except Exception:  # noqa: BLE001 - no distribution configured
        pass
    for size_key, rank_key in (("SLURM_NTASKS", "SLURM_PROCID"), ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
                               ("WORLD_SIZE", "RANK")):
        if size_key in os.environ and rank_key in os.environ:
            return int(os.environ[size_key]), int(os.environ[rank_key])
    return 1, 0
