"""Real DeepCAM data: the reader of the benchmark's folders and the download of the small ECP set.

**Layouts** (``mlcommons/hpc`` ``deepcam/README.md``): the benchmark's one-sample files ``data-*.h5``
(``climate/data`` (768, 1152, 16) float32, labels in ``climate/labels_0``, or ``climate/labels`` in older
sets) either

- split: ``DATA/train/``, ``DATA/validation/`` (and ``DATA/test/``), with ``stats.h5`` inside them or in
  ``DATA/``; or
- unsplit: ``DATA/data-*.h5``; the package splits them as the reference does (`split_files`: sorted, NumPy seed
  12345, 80/10/10) by **symbolic links in another folder** (``split_dir``), never touching the originals.

When no ``stats.h5`` is present, `summarize` computes it from the train split, into ``split_dir`` (the user's
folder is only read).

**Download** (`download_small`): the public HTTPS copy of the 2019 ECP data set named in the benchmark's
README, ``https://portal.nersc.gov/project/dasrepo/deepcam/climseg-data-small/``. Its folder index (an HTML
directory listing) is read, the first N ``data-*.h5`` files (by name) of the root or of each split folder
are downloaded, and ``stats.h5`` where present; every file is checked on arrival (HDF5 opens, the datasets
and shapes are the benchmark's) and its SHA-256 is written to the folder's index. Resumable after kill -9
(`solarcnn.data.resumable`).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from ..data.archive import Archive, examples, require_folder
from ..errors import DataFileError, DataLayoutError
from .data import DATA_KEY, NUM_CHANNELS, list_files, read_stats, split_files, summarize

log = logging.getLogger("solarcnn.deepcam")

SMALL_URL = "https://portal.nersc.gov/project/dasrepo/deepcam/climseg-data-small/"
SPLITS = ("train", "validation", "test")
PAPER_SHAPE = (768, 1152, NUM_CHANNELS)
LABEL_KEYS = ("climate/labels_0", "climate/labels")
LAYOUT = ("the benchmark's data-*.h5 files (climate/data (768, 1152, 16), climate/labels_0 or climate/labels), "
          "in train/, validation/ (and test/) or all in one folder")


@dataclass
class DeepCamArchive(Archive):
    """A validated DeepCAM folder.

    Attributes:
        train, validation, test: the files of each split (test may be empty).
        stats: the ``stats.h5`` to normalise with (the folder's, or one computed by `summarize`).
        label_key: the label dataset the files hold.
        shape: the fields' shape ``(H, W, C)``.
        split_by_package: True when the package made the split (unsplit input).
    """

    train: list = field(default_factory=list)
    validation: list = field(default_factory=list)
    test: list = field(default_factory=list)
    stats: Path | None = None
    label_key: str = LABEL_KEYS[0]
    shape: tuple = ()
    split_by_package: bool = False

    def dataset(self, split: str = "train", **kwargs):
        """A `CamDataset` of one split (keyword arguments go to it: batch_size, shuffle, ...)."""
        from .data import CamDataset

        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; received {split!r}")
        return CamDataset(getattr(self, split), self.stats, label_key=self.label_key, **kwargs)


def _describe_file(path: Path) -> tuple[tuple, str]:
    """``(shape, label_key)`` of one sample file, or a `DataFileError` naming it."""
    import h5py

    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(path, f"not a readable HDF5 file ({exc})") from None
    with fh:
        if DATA_KEY not in fh:
            names = []
            fh.visititems(lambda n, o: names.append(n) if hasattr(o, "shape") else None)
            raise DataFileError(path, f"dataset '{DATA_KEY}' missing; found {names}")
        shape = tuple(fh[DATA_KEY].shape)
        if len(shape) != 3 or shape[-1] != NUM_CHANNELS:
            raise DataFileError(path, f"'{DATA_KEY}' has shape {shape}; expected (height, width, {NUM_CHANNELS})")
        key = next((k for k in LABEL_KEYS if k in fh), None)
        if key is None:
            raise DataFileError(path, f"no label dataset ({' or '.join(LABEL_KEYS)})")
        if tuple(fh[key].shape) != shape[:2]:
            raise DataFileError(path, f"'{key}' has shape {tuple(fh[key].shape)}; expected {shape[:2]}")
    return shape, key


def check_sample_file(path) -> None:
    """The arrival check of a downloaded sample: `_describe_file` succeeds."""
    _describe_file(Path(path))


def check_stats_file(path) -> None:
    """The arrival check of a downloaded ``stats.h5``: `read_stats` succeeds."""
    read_stats(path)


def open_archive(data_dir, *, split_dir=None, n_jobs: int = 1) -> DeepCamArchive:
    """Validate a DeepCAM folder and return its `DeepCamArchive` (splitting and summarising when needed).

    Args:
        data_dir: ``train/ validation/ [test/]`` folders, or a folder of ``data-*.h5`` files.
        split_dir: where the package's split (symbolic links) and computed ``stats.h5`` go (None:
            ``<solarcnn cache>/deepcam-archive/<hash of data_dir>``); never inside `data_dir`.
        n_jobs: worker processes for `summarize`.

    Raises:
        DataLayoutError: no sample files, a split folder without files, too few files to split, files of
            different shapes or label datasets, a file that is not a DeepCAM sample, or an unreadable stats.h5.
    """
    root = require_folder(data_dir, "DeepCAM", LAYOUT)
    present = [s for s in SPLITS if (root / s).is_dir()]
    if present:
        missing = [s for s in ("train", "validation") if s not in present]
        if missing:
            raise DataLayoutError(root, f"has {', '.join(p + '/' for p in present)} but no "
                                        f"{' or '.join(m + '/' for m in missing)}; {LAYOUT}")
        parts = {s: list_files(root / s) if s in present else [] for s in SPLITS}
        empty = [s for s in present if not parts[s]]
        if empty:
            raise DataLayoutError(root / empty[0], f"split folder holds no data*.h5 file; {LAYOUT}")
        split_by_package = False
        work = None
    else:
        files = list_files(root)
        if not files:
            others = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
            seen = f" (it holds {examples(others)})" if others else " (it is empty)"
            raise DataLayoutError(root, f"holds no data*.h5 file and no train/ validation/ folders{seen}; {LAYOUT}")
        if int(0.1 * len(files)) < 1:
            raise DataLayoutError(root, f"holds {len(files)} data*.h5 file(s); the reference's 80/10/10 split "
                                        "needs at least 10 for a non-empty validation split (or bring train/ and "
                                        "validation/ folders)")
        work = _split_dir(root, split_dir)
        split_files(root, work)
        parts = {s: list_files(work / s) for s in SPLITS}
        split_by_package = True
    all_files = sorted(f for s in SPLITS for f in parts[s])
    shapes, keys = {}, {}
    for f in all_files:
        try:
            shape, key = _describe_file(f)
        except DataFileError as exc:
            raise DataLayoutError(root, f"{Path(f).relative_to(root) if not split_by_package else f.name} is not "
                                        f"a DeepCAM sample: {exc.problem}") from None
        shapes.setdefault(shape, []).append(f)
        keys.setdefault(key, []).append(f)
    if len(shapes) > 1:
        desc = "; ".join(f"{s}: {examples(v)}" for s, v in shapes.items())
        raise DataLayoutError(root, f"sample files of different shapes ({desc})")
    if len(keys) > 1:
        desc = "; ".join(f"{k}: {examples(v)}" for k, v in keys.items())
        raise DataLayoutError(root, f"sample files with different label datasets ({desc})")
    stats = next((p for p in [root / "train" / "stats.h5", root / "stats.h5", root / "validation" / "stats.h5"]
                  if p.is_file()), None)
    computed = False
    if stats is not None:
        try:
            read_stats(stats)
        except DataFileError as exc:
            raise DataLayoutError(root, f"{stats.relative_to(root)} is not a DeepCAM stats.h5: {exc.problem}") from None
    else:
        work = work or _split_dir(root, split_dir)
        stats = work / "stats.h5"
        if not _stats_fresh(stats, parts["train"]):
            log.info("%s: no stats.h5; computing it from the %d train file(s) into %s", root, len(parts["train"]),
                     stats)
            summarize(Path(parts["train"][0]).parent, stats, n_jobs=n_jobs)
            _stamp(stats, parts["train"])
        computed = True
    shape = next(iter(shapes))
    arch = DeepCamArchive(root=root, files=all_files, track="deepcam", layout=(
        "unsplit data-*.h5 (split by the package, 80/10/10 seed 12345, links in " + str(work) + ")"
        if split_by_package else "train/ validation/ test/ folders"), train=parts["train"],
        validation=parts["validation"], test=parts["test"], stats=stats, label_key=next(iter(keys)), shape=shape,
        split_by_package=split_by_package)
    arch.details = [f"train {len(arch.train)}, validation {len(arch.validation)}, test {len(arch.test)}",
                    f"fields {shape}" + ("" if shape == PAPER_SHAPE else f" (the paper's are {PAPER_SHAPE})")
                    + f", labels {arch.label_key}",
                    f"stats: {stats}" + (" (computed by summarize from the train split)" if computed else "")]
    return arch


def _split_dir(root: Path, split_dir) -> Path:
    if split_dir is None:
        from ..data import cache_dir

        split_dir = Path(cache_dir()) / "deepcam-archive" / hashlib.sha256(str(root).encode()).hexdigest()[:16]
    work = Path(split_dir).expanduser().resolve()
    if work == root or root in work.parents:
        raise DataLayoutError(work, f"split_dir lies inside the data folder {root}; the originals are only read. "
                                    "Choose another folder")
    return work


def _stamp_text(files) -> str:
    items = sorted((Path(f).name, Path(f).stat().st_size, Path(f).stat().st_mtime_ns) for f in files)
    return hashlib.sha256(repr(items).encode()).hexdigest()


def _stats_fresh(stats: Path, files) -> bool:
    stamp = stats.with_name(stats.name + ".source")
    try:
        return stats.is_file() and stamp.read_text() == _stamp_text(files)
    except OSError:
        return False


def _stamp(stats: Path, files) -> None:
    from ..utils import atomic_write_bytes

    atomic_write_bytes(stats.with_name(stats.name + ".source"), _stamp_text(files).encode())


# ------------------------------------------------------------------------------------------------ download
class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)


def parse_index(html: str, base_url: str) -> tuple[list[str], list[str]]:
    """``(file names, sub-folder names)`` of an HTML directory listing (Apache/nginx style).

    Links that leave `base_url` (parent folder, sort links ``?C=N;O=D``, other hosts) are ignored.
    """
    parser = _Links()
    parser.feed(html)
    base = urlparse(base_url if base_url.endswith("/") else base_url + "/")
    files, folders = set(), set()
    for href in parser.links:
        full = urlparse(urljoin(base.geturl(), href))
        if full.query or full.netloc != base.netloc or not full.path.startswith(base.path) or full.path == base.path:
            continue
        rest = unquote(full.path[len(base.path):])
        if rest.endswith("/") and "/" not in rest[:-1]:
            folders.add(rest[:-1])
        elif "/" not in rest:
            files.add(rest)
    return sorted(files), sorted(folders)


@dataclass
class SmallDownload:
    """What `download_small` fetched."""

    folder: str
    files: list = field(default_factory=list)
    stats: list = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.folder}: {len(self.files)} sample file(s), {len(self.stats)} stats file(s)"


def download_small(out_dir, n: int, *, base_url: str = SMALL_URL, splits=SPLITS, retries: int = 4,
                   backoff: float = 2.0, min_interval: float = 1.0, timeout: float = 120.0,
                   progress: bool | None = None) -> SmallDownload:
    """Download `n` sample files (and ``stats.h5`` where present) of the public small DeepCAM set.

    Args:
        out_dir: the destination (its layout mirrors the server's: ``train/``, ``validation/``, ``test/``
            when the server has them, else the files directly), readable by `open_archive`.
        n: sample files per split folder (or in all, when the server has no split folders), the first by name.
        base_url: the folder's URL (tests pass a loopback server).
        splits: which split folders to take when the server has them.
        retries, backoff, min_interval, timeout, progress: see `solarcnn.data.resumable.Downloader`.

    Raises:
        DataFileError: the index cannot be read, lists no ``data-*.h5`` file, or a download fails.
    """
    from ..data.resumable import Downloader

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; received {n!r}")
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    out = Path(out_dir).expanduser()
    dl = Downloader(out, retries=retries, backoff=backoff, min_interval=min_interval, timeout=timeout,
                    progress=progress)
    report = SmallDownload(str(out))
    files, folders = _listing(dl, base_url)
    todo = [("", base_url, files)]
    if not any(_is_sample(f) for f in files):
        chosen = [s for s in splits if s in folders]
        if not chosen:
            raise DataFileError(base_url, f"the folder index lists no data-*.h5 file and none of the split folders "
                                          f"{list(splits)} (it lists files {files[:5]}, folders {folders[:5]})")
        todo = [(s + "/", base_url + s + "/", _listing(dl, base_url + s + "/")[0]) for s in chosen]
    for prefix, url, names in todo:
        samples = [f for f in names if _is_sample(f)][:n]
        if not samples:
            raise DataFileError(url, "the folder index lists no data-*.h5 file")
        for name in samples:
            report.files.append(dl.fetch(url + name, prefix + name, check=check_sample_file))
        if "stats.h5" in names:
            report.stats.append(dl.fetch(url + "stats.h5", prefix + "stats.h5", check=check_stats_file))
    if "stats.h5" in files and todo[0][0]:
        report.stats.append(dl.fetch(base_url + "stats.h5", "stats.h5", check=check_stats_file))
    return report


def _is_sample(name: str) -> bool:
    return name.startswith("data") and name.endswith(".h5")


def _listing(dl, url: str) -> tuple[list[str], list[str]]:
    body = dl.get_bytes(url, what=url)
    try:
        html = body.decode("utf-8")
    except UnicodeDecodeError:
        html = body.decode("latin-1")
    return parse_index(html, url)


def fetch_data_dir(data_dir, *, cache=None, base_url: str = SMALL_URL, progress: bool | None = None, **kwargs):
    """The folder a notebook reads for `data_dir`: `data_dir` itself, or, for ``"download:climseg:N"`` (the
    ``full`` profile's default), the public small DeepCAM set (N sample files per split and ``stats.h5``)
    downloaded resumably into ``CACHE/archives/deepcam-climseg-small`` (`download_small`).

    Args:
        data_dir: a folder, or ``"download:climseg:N"``.
        cache: the download folder (default under `solarcnn.data.registry.cache_dir`, ``$SOLARCNN_CACHE``).
        base_url: the set's folder URL (tests pass a loopback server).
        progress, kwargs: for `download_small` (retries, backoff, min_interval, timeout).

    Raises:
        ParameterError: a malformed ``download:`` value.
        DataFileError: the download failed; the message says how to go on offline.
    """
    from ..data.archive import download_failed, download_spec
    from ..data.registry import cache_dir
    from ..errors import ParameterError

    args = download_spec(data_dir, "climseg", (1, 1))
    if args is None:
        return data_dir
    try:
        n = int(args[0])
    except ValueError:
        n = 0
    if n < 1:
        raise ParameterError(f"data_dir={data_dir!r}: N in download:climseg:N must be a positive integer")
    out = Path(cache) if cache else cache_dir() / "archives" / "deepcam-climseg-small"
    print(f"data_dir {data_dir}: {n} files per split of {base_url} into {out} (resumable)")
    try:
        download_small(out, n, base_url=base_url, progress=progress, **kwargs)
    except (DataFileError, OSError) as exc:
        raise download_failed(data_dir, exc, f"solarcnn archive download deepcam FOLDER -n {n}") from None
    return out
