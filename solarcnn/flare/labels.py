"""GOES flare lists, the 24-hour labelling rule and the calendar-quarter folds.

The rule (Pandey et al. 2023, ``data_labeling/labeling.py``), for a magnetogram at time t:

- the window holds every flare whose **start** time satisfies ``t < start <= t + 23:59:59``
  (strictly after the image; a flare at exactly t + 24 h belongs to the next day's window);
- the window's class is the largest GOES class in it, or ``"NF"`` when it is empty; its
  location and start time are kept for the near-limb analysis;
- the binary target is 1 when that class starts with ``"M"`` or ``"X"`` (>= M1.0), else 0.

Faithful detail: the original picks the largest class by a **string** sort (``"X10.0"``
sorts below ``"X2.0"``). That never changes the binary target, only which flare's
location is stored when a window holds an X10+ flare and a smaller X flare.
``order="string"`` (default, faithful) keeps it; ``order="flux"`` sorts by peak flux.

Folds: fold k validates on the months of calendar quarter k of *every* year
(1: Jan-Mar, 2: Apr-Jun, 3: Jul-Sep, 4: Oct-Dec) and trains on the other nine months.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataFileError

CLASS_RE = re.compile(r"^([ABCMX])(\d+(?:\.\d+)?)$")
_LETTER_FLUX = {"A": 1e-8, "B": 1e-7, "C": 1e-6, "M": 1e-5, "X": 1e-4}
# Columns of final_flare_list_sc24.csv (after its unnamed index column).
FLARE_LIST_COLUMNS = ["event_starttime", "event_peaktime", "event_endtime", "goes_class_ind", "goes_class",
                      "goes_class_val", "integrated_flux", "noaa_ar", "position_hgs", "hgs_lat", "hgs_lon",
                      "hpc_x", "hpc_y"]
_REQUIRED = ("event_starttime", "goes_class", "hgs_lat", "hgs_lon")
WINDOW = np.timedelta64(24 * 3600 - 1, "s")   # t + 23:59:59


def class_flux(goes_class: str) -> float:
    """Peak 1-8 Å flux in W m^-2 of a GOES class string (``"M2.5"`` -> 2.5e-5)."""
    m = CLASS_RE.match(str(goes_class).strip())
    if not m:
        raise ValueError(f"not a GOES class such as 'M2.5': received {goes_class!r}")
    return _LETTER_FLUX[m.group(1)] * float(m.group(2))


def binarize(goes_class: str, threshold: str = "M") -> int:
    """1 when the window's class is at least ``threshold`` 1.0 (``"M"``: M or X; ``"C"``: C, M or X)."""
    if threshold == "M":
        return int(str(goes_class)[:1] in ("M", "X"))
    if threshold == "C":
        return int(str(goes_class)[:1] in ("C", "M", "X"))
    raise ValueError(f"threshold must be 'M' or 'C'; received {threshold!r}")


@dataclass
class FlareList:
    """A GOES flare catalogue as NumPy arrays (one entry per flare, sorted by start time)."""

    start: np.ndarray                   # datetime64[s]
    goes_class: np.ndarray              # str, e.g. "M2.5"
    lat: np.ndarray                     # heliographic latitude [deg], NaN if unknown
    lon: np.ndarray                     # heliographic (Stonyhurst) longitude [deg], NaN if unknown
    peak: np.ndarray | None = None
    end: np.ndarray | None = None
    noaa_ar: np.ndarray | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.start)

    @property
    def letter(self) -> np.ndarray:
        return np.array([c[:1] for c in self.goes_class])

    @property
    def flux(self) -> np.ndarray:
        return np.array([class_flux(c) for c in self.goes_class])

    def select(self, mask) -> "FlareList":
        mask = np.asarray(mask)
        opt = {k: (getattr(self, k)[mask] if getattr(self, k) is not None else None) for k in ("peak", "end",
                                                                                             "noaa_ar")}
        return FlareList(self.start[mask], self.goes_class[mask], self.lat[mask], self.lon[mask], source=self.source,
                         **opt)


def _parse_time(value: str, path, row: int, column: str) -> np.datetime64:
    try:
        if not re.match(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}", value):
            raise ValueError
        return np.datetime64(value.strip().replace(" ", "T")[:19], "s")
    except ValueError:
        raise DataFileError(path, f"row {row}: {column} {value!r} is not a time 'YYYY-MM-DD HH:MM:SS'") from None


def _parse_float(value: str, path, row: int, column: str) -> float:
    value = value.strip()
    if value in ("", "nan", "NaN", "UNK", "unk"):
        return np.nan
    try:
        return float(value)
    except ValueError:
        raise DataFileError(path, f"row {row}: {column} {value!r} is not a number") from None


def read_flare_list(path: str | os.PathLike) -> FlareList:
    """Read a flare list in the format of ``goes_flares/final_flare_list_sc24.csv``.

    The file has a leading unnamed index column (13 header names, 14 fields per row); a file
    without it is read too. Only ``event_starttime``, ``goes_class``, ``hgs_lat`` and
    ``hgs_lon`` are required; missing positions become NaN.

    Raises:
        DataFileError: missing or empty file, missing columns, a row with the wrong number of
            fields, a time, class or position that cannot be parsed.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "flare list not found")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataFileError(path, "flare list is empty (no header)")
    header = [h.strip() for h in rows[0]]
    offset = 1 if header and header[0] == "" else 0
    names = header[offset:]
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise DataFileError(path, f"flare list lacks column(s) {missing}; found {names}")
    idx = {c: names.index(c) for c in names}
    width = len(header)
    starts, classes, lats, lons, peaks, ends, ars = [], [], [], [], [], [], []
    for r, row in enumerate(rows[1:], start=1):
        if not row:
            continue
        if len(row) == width + 1 and offset == 0:       # index column without an empty header name
            row = row[1:]
        elif offset:
            row = row[1:]
        if len(row) != len(names):
            raise DataFileError(path, f"row {r}: {len(row)} fields, expected {len(names)} ({names})")
        get = lambda c: row[idx[c]]  # noqa: E731
        starts.append(_parse_time(get("event_starttime"), path, r, "event_starttime"))
        cls = get("goes_class").strip()
        if not CLASS_RE.match(cls):
            raise DataFileError(path, f"row {r}: goes_class {cls!r} is not a GOES class such as 'M2.5'")
        classes.append(cls)
        lats.append(_parse_float(get("hgs_lat"), path, r, "hgs_lat"))
        lons.append(_parse_float(get("hgs_lon"), path, r, "hgs_lon"))
        if "event_peaktime" in idx:
            peaks.append(_parse_time(get("event_peaktime"), path, r, "event_peaktime"))
        if "event_endtime" in idx:
            ends.append(_parse_time(get("event_endtime"), path, r, "event_endtime"))
        if "noaa_ar" in idx:
            ars.append(get("noaa_ar").strip())
    if not starts:
        raise DataFileError(path, "flare list has a header but no flares")
    start = np.array(starts, dtype="datetime64[s]")
    order = np.argsort(start, kind="stable")
    out = FlareList(start[order], np.array(classes)[order], np.array(lats, float)[order], np.array(lons, float)[order],
                    peak=np.array(peaks, dtype="datetime64[s]")[order] if peaks else None,
                    end=np.array(ends, dtype="datetime64[s]")[order] if ends else None,
                    noaa_ar=np.array(ars)[order] if ars else None, source=str(path))
    return out


def write_flare_list(path: str | os.PathLike, flares: FlareList, *, rows: list[dict] | None = None) -> Path:
    """Write a flare list in the exact layout of ``final_flare_list_sc24.csv`` (index column first).

    Args:
        path: the CSV to write (atomically).
        flares: the flares (start, class, lat, lon; peak/end default to start + 10/25 min).
        rows: optional full rows (dicts with all `FLARE_LIST_COLUMNS`) overriding the derived values.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".part-" + path.name)
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FLARE_LIST_COLUMNS)             # 13 names; every row starts with its index (14 fields)
        for i in range(len(flares)):
            if rows is not None:
                d = rows[i]
            else:
                s = flares.start[i]
                peak = flares.peak[i] if flares.peak is not None else s + np.timedelta64(600, "s")
                end = flares.end[i] if flares.end is not None else s + np.timedelta64(1500, "s")
                cls = flares.goes_class[i]
                lat, lon = flares.lat[i], flares.lon[i]
                pos = "" if np.isnan(lat) else f"{'N' if lat >= 0 else 'S'}{abs(lat):02.0f}{'W' if lon >= 0 else 'E'}{abs(lon):02.0f}"
                d = {"event_starttime": str(s).replace("T", " "), "event_peaktime": str(peak).replace("T", " "),
                     "event_endtime": str(end).replace("T", " "), "goes_class_ind": cls[0], "goes_class": cls,
                     "goes_class_val": f"{class_flux(cls):.3g}", "integrated_flux": "",
                     "noaa_ar": flares.noaa_ar[i] if flares.noaa_ar is not None else "", "position_hgs": pos,
                     "hgs_lat": lat, "hgs_lon": lon, "hpc_x": "", "hpc_y": ""}
            w.writerow([i] + [d.get(c, "") for c in FLARE_LIST_COLUMNS])
    os.replace(tmp, path)
    return path


@dataclass
class Labels:
    """Per-image labels from `label_times` (one entry per image time)."""

    time: np.ndarray            # datetime64[s], the image times
    target: np.ndarray          # 0/1
    goes_class: np.ndarray      # largest class in (t, t+24h), "NF" if none
    lon: np.ndarray             # location of that flare [deg], NaN if none or unknown
    lat: np.ndarray
    flare_start: np.ndarray     # start of that flare, NaT if none
    n_flares: np.ndarray        # number of flares (any class in the list) in the window
    rest: list                  # per image: [(class, lon, lat), ...] of the other flares in the window

    def __len__(self) -> int:
        return len(self.time)

    @property
    def letter(self) -> np.ndarray:
        return np.array([c[:1] if c != "NF" else "N" for c in self.goes_class])


def label_times(times, flares: FlareList, *, threshold: str = "M", order: str = "string",
                window=WINDOW) -> Labels:
    """Label image times with the original's 24-hour rule (see the module docstring).

    Args:
        times: image times (anything ``np.datetime64`` accepts), e.g. hourly.
        flares: the flare catalogue (`read_flare_list`).
        threshold: ``"M"`` (>= M1.0, the paper) or ``"C"``.
        order: ``"string"`` (faithful: largest class by string sort) or ``"flux"`` (by peak flux).
        window: the window length after t (default 23:59:59, inclusive).
    """
    if order not in ("string", "flux"):
        raise ValueError(f"order must be 'string' or 'flux'; received {order!r}")
    times = np.asarray(times, dtype="datetime64[s]").reshape(-1)
    start = flares.start
    lo = np.searchsorted(start, times, side="right")           # first start > t
    hi = np.searchsorted(start, times + window, side="right")  # first start > t + window
    n = len(times)
    target = np.zeros(n, dtype=np.int64)
    cls = np.full(n, "NF", dtype=object)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    fstart = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    rest = [[] for _ in range(n)]
    flux = flares.flux if order == "flux" else None
    for i in range(n):
        a, b = lo[i], hi[i]
        if b <= a:
            continue
        idx = np.arange(a, b)
        if order == "string":
            # Python's sort is stable, as pandas' sort_values(ascending=False) is not guaranteed to be;
            # ties (same class string) keep the earliest flare.
            best = sorted(idx, key=lambda j: flares.goes_class[j], reverse=True)
            best = [j for j in best if flares.goes_class[j] == flares.goes_class[best[0]]][0]
        else:
            best = idx[np.argmax(flux[idx])]
        cls[i] = flares.goes_class[best]
        lon[i], lat[i], fstart[i] = flares.lon[best], flares.lat[best], flares.start[best]
        rest[i] = [(flares.goes_class[j], flares.lon[j], flares.lat[j]) for j in idx if j != best]
        target[i] = binarize(cls[i], threshold)
    return Labels(times, target, cls.astype(str), lon, lat, fstart, (hi - lo).clip(min=0), rest)


def hourly_times(start, end, *, step_hours: int = 1) -> np.ndarray:
    """Image times from `start` to `end` inclusive, every `step_hours` hours."""
    s, e = np.datetime64(start, "s"), np.datetime64(end, "s")
    if e < s:
        raise ValueError(f"end must not precede start; received start={s}, end={e}")
    return np.arange(s, e + np.timedelta64(1, "s"), np.timedelta64(step_hours * 3600, "s"))


def image_filename(t, ext: str = "jpg") -> str:
    """The original's relative image path for time t: ``YYYY/MM/DD/HMI.mYYYY.MM.DD_HH.MM.SS.jpg``."""
    s = str(np.datetime64(t, "s"))
    d, hms = s[:10].split("-"), s[11:19].replace(":", ".")
    return f"{d[0]}/{d[1]}/{d[2]}/HMI.m{d[0]}.{d[1]}.{d[2]}_{hms}.{ext}"


def month_from_filename(relpath: str) -> int:
    """The month read from characters 21-22 of the relative path (the original's rule)."""
    try:
        return int(relpath[21:23])
    except ValueError:
        raise ValueError(f"no month at characters 21:23 of {relpath!r}; expected "
                         "'YYYY/MM/DD/HMI.mYYYY.MM.DD_HH.MM.SS.jpg'") from None


def quarter_fold(month) -> np.ndarray | int:
    """Fold 1-4 whose validation set holds `month` (1-12): Jan-Mar -> 1, ..., Oct-Dec -> 4."""
    m = np.asarray(month)
    if np.any((m < 1) | (m > 12)):
        raise ValueError(f"months must be 1..12; received {np.unique(m[(m < 1) | (m > 12)]).tolist()}")
    out = (m - 1) // 3 + 1
    return int(out) if out.ndim == 0 else out


def quarter_folds(times) -> np.ndarray:
    """Fold number (1-4) of each image time, by calendar quarter."""
    t = np.asarray(times, dtype="datetime64[M]")
    months = (t.astype(int) % 12) + 1
    return quarter_fold(months)


def fold_split(folds, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of fold `k`: val = quarter k of every year, train = the rest."""
    if k not in (1, 2, 3, 4):
        raise ValueError(f"fold must be 1, 2, 3 or 4; received {k!r}")
    folds = np.asarray(folds)
    return np.flatnonzero(folds != k), np.flatnonzero(folds == k)
