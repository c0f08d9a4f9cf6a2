"""Real HMI magnetograms in the authors' layout: the reader, the labels, and the Helioviewer download.

**Layout** (Pandey et al. 2023, ``download_mag/download_jp2.py``): ``DATA/YYYY/MM/DD/HMI.mYYYY.MM.DD_HH.MM.SS.jpg``
(the 512x512 8-bit JPEG conversion the models train on) or ``.jp2`` (Helioviewer's JPEG 2000), named after the
*requested* time. Labels come from the package's 24-hour rule (`solarcnn.flare.labels.label_times`) applied
to a GOES flare list, or from the authors' ``Fold{1-4}_{train,val}.csv`` files (header ``label,goes_class``
where ``goes_class`` holds the 0/1 target; or the full-column ``label,target,...`` variant), when given.

**Download** (`download_hmi`): Helioviewer's ``getClosestImage`` then ``getJP2Image`` (sourceId 19, the HMI
line-of-sight magnetogram) on an hourly grid over the dates asked for; an image is kept only when Helioviewer's
nearest one lies within 12 minutes of the request (the paper's filter); each JP2 is checked on arrival (it
decodes, its header is an HMI magnetogram), converted as the paper does (area-average to 512x512, 8-bit grey
JPEG) and written to the layout above, with its SHA-256 in the folder's index. Resumable after kill -9
(`solarcnn.data.resumable`).
"""
from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.archive import Archive, examples, require_folder
from ..errors import DataFileError, DataLayoutError
from .helioviewer import API, HMI_MAGNETOGRAM, TOLERANCE, _source, closest_image_url, jp2_request_url, \
    parse_closest_image, within_tolerance
from .labels import hourly_times, image_filename, label_times, quarter_folds

log = logging.getLogger("solarcnn.flare")

LAYOUT = "the authors' layout YYYY/MM/DD/HMI.mYYYY.MM.DD_HH.MM.SS.jpg (or .jp2)"
_NAME = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/HMI\.m(\d{4})\.(\d{2})\.(\d{2})_(\d{2})\.(\d{2})\.(\d{2})\.(jpg|jp2)$")
_FOLD_CSV = re.compile(r"^Fold([1-4])_(train|val)\.csv$")
CONTENT = {19: "MAGNETOGRAM", 18: "CONTINUUM"}


@dataclass
class FlareArchive(Archive):
    """A folder of magnetograms in the authors' layout.

    Attributes:
        relpaths: each file's path relative to the root (``YYYY/MM/DD/HMI...jpg``), the authors' label key.
        times: the image times (``datetime64[s]``, from the names).
        fold_labels: ``{relpath: target}`` from the authors' fold CSVs (empty when none were given).
        folds: ``{relpath: fold}`` (1-4) of the validation CSVs (empty when none were given).
    """

    relpaths: list = field(default_factory=list)
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, "datetime64[s]"))
    fold_labels: dict = field(default_factory=dict)
    folds: dict = field(default_factory=dict)

    def labels(self, flares=None, *, threshold: str = "M") -> np.ndarray:
        """0/1 targets: from the fold CSVs when the archive has them, else the package's 24-hour rule on
        `flares` (a `FlareList` or a CSV path).

        Raises:
            DataLayoutError: no fold CSVs and no flare list given.
        """
        if self.fold_labels:
            return np.array([self.fold_labels[r] for r in self.relpaths], dtype=np.int64)
        if flares is None:
            raise DataLayoutError(self.root, "has no Fold*_{train,val}.csv label files; pass a GOES flare list "
                                             "(e.g. solarcnn.data.fetch('goes_flares', 'final_flare_list_sc24.csv'))")
        from .labels import read_flare_list

        if isinstance(flares, (str, os.PathLike)):
            flares = read_flare_list(flares)
        return label_times(self.times, flares, threshold=threshold).target

    def fold_of(self) -> np.ndarray:
        """Fold (1-4) of each image: the authors' validation CSVs when given, else the calendar quarter."""
        if self.folds:
            return np.array([self.folds.get(r, 0) for r in self.relpaths], dtype=np.int64)
        return np.asarray(quarter_folds(self.times), dtype=np.int64)

    def load_images(self, *, size: int | None = 512, indices=None) -> np.ndarray:
        """The images as ``uint8 (N, size, size)`` (north up, origin lower), area-resized when needed."""
        from .images import read_jp2

        chosen = range(len(self.files)) if indices is None else indices
        out = []
        for i in chosen:
            img = read_jp2(self.files[i])
            if size is not None and img.shape != (size, size):
                img = read_jp2(self.files[i], size=size)
            out.append(img)
        if not out:
            return np.zeros((0, size or 0, size or 0), np.uint8)
        shapes = {a.shape for a in out}
        if len(shapes) > 1:
            raise DataLayoutError(self.root, f"images of different shapes {sorted(shapes)}; pass size=512")
        return np.stack(out)


def open_archive(data_dir, *, folds_dir=None) -> FlareArchive:
    """Validate a folder in the authors' layout and return its `FlareArchive`.

    Args:
        data_dir: the folder holding ``YYYY/MM/DD/HMI.m...jpg`` (or ``.jp2``) files.
        folds_dir: a folder with the authors' ``Fold{1-4}_{train,val}.csv`` (None: use ``data_dir`` or its
            ``data_labels/`` sub-folder when they hold such files).

    Raises:
        DataLayoutError: the folder does not exist, holds no image in the layout, holds misnamed or misfiled
            images, or fold CSVs that name images it does not have.
    """
    root = require_folder(data_dir, "flare", LAYOUT)
    found, wrong, misfiled = {}, [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith((".jpg", ".jp2", ".jpeg")):
                continue
            rel = Path(dirpath, name).relative_to(root).as_posix()
            m = _NAME.match(rel)
            if not m:
                wrong.append(rel)
                continue
            if m.group(1, 2, 3) != m.group(4, 5, 6):
                misfiled.append(rel)
                continue
            key = rel[:-4]
            if key in found and found[key].endswith(".jpg"):
                continue                  # a .jpg beside its .jp2: the conversion is what the models read
            found[key] = rel
    if misfiled:
        raise DataLayoutError(root, f"{len(misfiled)} image(s) lie in another day's folder than their name says "
                                    f"({examples(misfiled)}); {LAYOUT}")
    if not found:
        seen = f"; it holds {len(wrong)} other image(s), e.g. {examples(wrong)}" if wrong else ""
        raise DataLayoutError(root, f"holds no magnetogram in {LAYOUT}{seen}")
    if wrong:
        log.warning("%s: %d image(s) not in the authors' layout were left out (%s)", root, len(wrong),
                    examples(wrong))
    relpaths = sorted(found.values())
    times = np.array([_time_of(r) for r in relpaths], dtype="datetime64[s]")
    arch = FlareArchive(root=root, files=[root / r for r in relpaths], track="flare", layout=LAYOUT,
                        relpaths=relpaths, times=times)
    fold_labels, folds, csvs = _read_folds(root, folds_dir, relpaths)
    arch.fold_labels, arch.folds = fold_labels, folds
    n_jpg = sum(r.endswith(".jpg") for r in relpaths)
    arch.details = [f"{n_jpg} JPEG, {len(relpaths) - n_jpg} JPEG 2000; {times.min()} to {times.max()}",
                    (f"labels: the authors' fold files ({', '.join(csvs)})" if csvs
                     else "labels: the package's 24-hour rule on a GOES flare list")]
    return arch


def _time_of(rel: str) -> np.datetime64:
    m = _NAME.match(rel)
    y, mo, d, hh, mm, ss = m.group(4, 5, 6, 7, 8, 9)
    return np.datetime64(f"{y}-{mo}-{d}T{hh}:{mm}:{ss}", "s")


def _read_folds(root: Path, folds_dir, relpaths) -> tuple[dict, dict, list]:
    if folds_dir is not None:
        candidates = [require_folder(folds_dir, "flare", "a folder of Fold{1-4}_{train,val}.csv files")]
    else:
        candidates = [root, root / "data_labels", root / "data_labels" / "simplified_data_labels"]
    for folder in candidates:
        files = sorted(p for p in folder.glob("Fold*_*.csv") if _FOLD_CSV.match(p.name)) if folder.is_dir() else []
        if files:
            break
    else:
        if folds_dir is not None:
            raise DataLayoutError(candidates[0], "holds no Fold{1-4}_{train,val}.csv label files")
        return {}, {}, []
    have = set(relpaths)
    labels, folds, missing = {}, {}, []
    for path in files:
        k, part = _FOLD_CSV.match(path.name).groups()
        for rel, target in _fold_rows(path):
            if rel not in have:
                missing.append(rel)
                continue
            if labels.get(rel, target) != target:
                raise DataLayoutError(path, f"gives {rel} the target {target}, another fold file {labels[rel]}")
            labels[rel] = target
            if part == "val":
                folds[rel] = int(k)
    if missing:
        raise DataLayoutError(root, f"the fold files in {folder} name {len(missing)} image(s) this folder does "
                                    f"not hold ({examples(missing)}); {LAYOUT}")
    unlabelled = have - set(labels)
    if unlabelled:
        raise DataLayoutError(root, f"{len(unlabelled)} image(s) appear in no fold file of {folder} "
                                    f"({examples(sorted(unlabelled))}); remove them or the fold files")
    return labels, folds, [p.name for p in files]


def _fold_rows(path: Path):
    """``(relpath, target)`` rows of an authors' fold CSV (``label,goes_class`` or ``label,target,...``)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"cannot read the fold file ({type(exc).__name__}: {exc})") from None
    if not rows or not rows[0] or rows[0][0] != "label":
        raise DataFileError(path, f"first line is {rows[0] if rows else '(empty file)'}; expected the header "
                                  "'label,goes_class' (or 'label,target,...') of the authors' fold files")
    col = rows[0].index("target") if "target" in rows[0] else 1
    out = []
    for n, row in enumerate(rows[1:], start=2):
        try:
            target = int(row[col])
        except (IndexError, ValueError):
            raise DataFileError(path, f"line {n}: {row!r} has no 0/1 target in column {col + 1}") from None
        if target not in (0, 1):
            raise DataFileError(path, f"line {n}: target {target} is not 0 or 1")
        out.append((row[0], target))
    return out


# ------------------------------------------------------------------------------------------------ download
@dataclass
class DownloadReport:
    """What `download_hmi` did."""

    folder: str
    written: list = field(default_factory=list)      # new JPEGs
    kept: list = field(default_factory=list)         # already there and intact
    no_image: dict = field(default_factory=dict)     # requested time -> why none was kept

    def __str__(self) -> str:
        return (f"{self.folder}: {len(self.written)} new, {len(self.kept)} kept, {len(self.no_image)} time(s) "
                "without an image within 12 min")


def check_hmi_jp2(path, source: int = HMI_MAGNETOGRAM, *, requested=None) -> None:
    """The arrival check of a Helioviewer JP2: it decodes, carries the FITS header, is an SDO/HMI image of the
    `source` asked for (``CONTENT``) and, when `requested` is given, was observed within 12 min of it.

    Raises:
        DataFileError: naming the file and what is wrong.
    """
    from ..io.jp2 import read_jp2

    try:
        data, header = read_jp2(path)
    except DataFileError:
        raise
    except Exception as exc:   # glymur's errors on a truncated or foreign file
        raise DataFileError(path, f"not a decodable JPEG 2000 image ({type(exc).__name__}: {exc})") from None
    if data.ndim != 2 or min(data.shape) < 16:
        raise DataFileError(path, f"image of shape {data.shape}; expected a 2-D full-disk image")
    instrument = f"{header.get('TELESCOP', '')} {header.get('INSTRUME', '')}".upper()
    if "HMI" not in instrument:
        raise DataFileError(path, f"TELESCOP/INSTRUME is {instrument.strip()!r}; expected an SDO/HMI image")
    want = CONTENT.get(int(source))
    content = str(header.get("CONTENT", "")).upper()
    if want and want not in content:
        raise DataFileError(path, f"header CONTENT is {header.get('CONTENT')!r}; sourceId {source} asks for "
                                  f"{want.lower()} images")
    if requested is not None:
        obs = header.get("DATE-OBS") or header.get("DATE_OBS")
        try:
            t = np.datetime64(str(obs)[:19], "s")
        except ValueError:
            raise DataFileError(path, f"header DATE-OBS {obs!r} is not a time") from None
        if not within_tolerance(requested, t, TOLERANCE):
            raise DataFileError(path, f"observed at {t}, more than 12 min from the requested {requested}")


def check_jpeg(path, size: int = 512) -> None:
    """The converted image: an 8-bit grey JPEG of `size` x `size`."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            mode, shape = im.mode, im.size
    except Exception as exc:
        raise DataFileError(path, f"not a readable JPEG ({type(exc).__name__}: {exc})") from None
    if mode != "L" or shape != (size, size):
        raise DataFileError(path, f"JPEG is mode {mode} {shape[0]}x{shape[1]}; expected grey (L) {size}x{size}")


def download_hmi(out_dir, start, end, *, cadence_minutes: int = 60, source=HMI_MAGNETOGRAM, base_url: str = API,
                 size: int = 512, keep_jp2: bool = False, retries: int = 4, backoff: float = 2.0,
                 min_interval: float = 1.0, timeout: float = 60.0, progress: bool | None = None) -> DownloadReport:
    """Download HMI magnetograms from Helioviewer into the authors' layout, converted as the paper does.

    Args:
        out_dir: the archive folder (created); ``YYYY/MM/DD/HMI.m...jpg`` files and the index go there,
            JP2 files to ``out_dir/.helioviewer-jp2/`` while they are converted (kept with `keep_jp2`).
        start, end: the first and last request times (UTC, inclusive), e.g. ``"2011-01-01"``,
            ``"2011-01-31T23:00"``.
        cadence_minutes: the request grid (60: the paper's hourly data set).
        source: Helioviewer source (19 / ``"hmi_magnetogram"``, the paper's).
        base_url: the API root (tests pass a loopback server).
        size: the converted side (512 in the paper; None keeps the JP2's size).
        keep_jp2: keep the downloaded JPEG 2000 files.
        retries, backoff, min_interval, timeout, progress: see `solarcnn.data.resumable.Downloader`.

    Returns:
        A `DownloadReport`.
    """
    from ..data.resumable import Downloader
    from .images import read_jp2, save_jpeg

    if cadence_minutes < 1:
        raise ValueError(f"cadence_minutes must be >= 1; received {cadence_minutes!r}")
    sid = _source(source)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    dl = Downloader(out, retries=retries, backoff=backoff, min_interval=min_interval, timeout=timeout,
                    progress=progress)
    times = hourly_times(start, end, step_hours=1) if cadence_minutes == 60 else \
        np.arange(np.datetime64(start, "s"), np.datetime64(end, "s") + np.timedelta64(1, "s"),
                  np.timedelta64(60 * cadence_minutes, "s"))
    report = DownloadReport(str(out))
    index = dl.index()
    missing = _read_missing(out)
    for t in times:
        rel = image_filename(t, "jpg")
        if rel in index and (out / rel).is_file() and not dl.verify(rel):
            report.kept.append(rel)
            continue
        if str(t) in missing:
            report.no_image[str(t)] = missing[str(t)]
            continue
        answer = dl.get_bytes(closest_image_url(t, sid, base_url=base_url), what=out / rel)
        found = parse_closest_image(answer, source_url=closest_image_url(t, sid, base_url=base_url))
        if not within_tolerance(t, found):
            why = f"nearest image at {found}, more than 12 min away"
            report.no_image[str(t)] = missing[str(t)] = why
            _write_missing(out, missing)
            continue
        jp2_rel = ".helioviewer-jp2/" + image_filename(t, "jp2")
        jp2 = dl.fetch(jp2_request_url(t, sid, base_url=base_url), jp2_rel,
                       check=lambda p, t=t: check_hmi_jp2(p, sid, requested=t))
        image = read_jp2(jp2, size=size)
        save_jpeg(out / rel, image)
        check_jpeg(out / rel, image.shape[0])
        dl._record(out / rel, rel, jp2_request_url(t, sid, base_url=base_url))
        if not keep_jp2:
            jp2.unlink()
            dl._update_index(jp2_rel, None)
        report.written.append(rel)
    return report


_MISSING = ".solarcnn-no-image.json"


def _read_missing(out: Path) -> dict:
    import json

    try:
        return json.loads((out / _MISSING).read_text())
    except (OSError, ValueError):
        return {}


def _write_missing(out: Path, missing: dict) -> None:
    import json

    from ..utils import atomic_write_bytes

    atomic_write_bytes(out / _MISSING, json.dumps(missing, indent=1, sort_keys=True).encode())


def fetch_data_dir(data_dir, *, cache=None, base_url: str = API, progress: bool | None = None, **kwargs):
    """The folder a notebook reads for `data_dir`: `data_dir` itself, or, for ``"download:hmi:START:END"`` (the
    ``full`` profile's default: the paper's 2010-12-01 .. 2018-12-31), hourly HMI magnetograms from Helioviewer
    converted as the paper does, downloaded resumably into ``CACHE/archives/flare-hmi-hourly`` (`download_hmi`).

    Args:
        data_dir: a folder, or ``"download:hmi:START:END"`` (dates, UTC, inclusive).
        cache: the download folder (default under `solarcnn.data.registry.cache_dir`, ``$SOLARCNN_CACHE``).
        base_url: the API root (tests pass a loopback server).
        progress, kwargs: for `download_hmi` (retries, backoff, min_interval, timeout).

    Raises:
        ParameterError: a malformed ``download:`` value.
        DataFileError: the download failed; the message says how to go on offline.
    """
    from ..data.archive import download_failed, download_spec
    from ..data.registry import cache_dir
    from ..errors import ParameterError

    args = download_spec(data_dir, "hmi", (2, 2))
    if args is None:
        return data_dir
    start, end = args
    try:
        first, last = np.datetime64(start, "s"), np.datetime64(end, "s")
    except ValueError:
        raise ParameterError(f"data_dir={data_dir!r}: START and END in download:hmi:START:END must be dates "
                             f"(YYYY-MM-DD)") from None
    if last < first:
        raise ParameterError(f"data_dir={data_dir!r}: END is before START")
    end = str(last + np.timedelta64(23, "h")) if len(end) == 10 else end    # a date: its last hour too
    out = Path(cache) if cache else cache_dir() / "archives" / "flare-hmi-hourly"
    print(f"data_dir {data_dir}: hourly HMI magnetograms {start} .. {end} from {base_url} into {out} (resumable)")
    try:
        download_hmi(out, start, end, base_url=base_url, progress=progress, **kwargs)
    except (DataFileError, OSError) as exc:
        raise download_failed(data_dir, exc, f"solarcnn archive download flare FOLDER --start {start} "
                                             f"--end {end}") from None
    return out
