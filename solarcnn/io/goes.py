"""GOES flare catalogues: the GOES class scale and the flare-list CSV of ``goes_flares/final_flare_list_sc24.csv``.

The file format lives here (layer 1) so that the synthetic magnetogram generator can write a catalogue
without importing the flare track; the track's labelling rule (`solarcnn.flare.labels`) reads catalogues
through it. `solarcnn.flare.labels` re-exports every name.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..utils import atomic_path

CLASS_RE = re.compile(r"^([ABCMX])(\d+(?:\.\d+)?)$")
_LETTER_FLUX = {"A": 1e-8, "B": 1e-7, "C": 1e-6, "M": 1e-5, "X": 1e-4}
# Columns of final_flare_list_sc24.csv (after its unnamed index column).
FLARE_LIST_COLUMNS = ["event_starttime", "event_peaktime", "event_endtime", "goes_class_ind", "goes_class",
                      "goes_class_val", "integrated_flux", "noaa_ar", "position_hgs", "hgs_lat", "hgs_lon",
                      "hpc_x", "hpc_y"]
_REQUIRED = ("event_starttime", "goes_class", "hgs_lat", "hgs_lon")


def class_flux(goes_class: str) -> float:
    """Peak 1-8 Å flux in W m^-2 of a GOES class string (``"M2.5"`` -> 2.5e-5)."""
    m = CLASS_RE.match(str(goes_class).strip())
    if not m:
        raise ValueError(f"not a GOES class such as 'M2.5': received {goes_class!r}")
    return _LETTER_FLUX[m.group(1)] * float(m.group(2))


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
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
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
                pos = ("" if np.isnan(lat) else
                       f"{'N' if lat >= 0 else 'S'}{abs(lat):02.0f}{'W' if lon >= 0 else 'E'}{abs(lon):02.0f}")
                d = {"event_starttime": str(s).replace("T", " "), "event_peaktime": str(peak).replace("T", " "),
                     "event_endtime": str(end).replace("T", " "), "goes_class_ind": cls[0], "goes_class": cls,
                     "goes_class_val": f"{class_flux(cls):.3g}", "integrated_flux": "",
                     "noaa_ar": flares.noaa_ar[i] if flares.noaa_ar is not None else "", "position_hgs": pos,
                     "hgs_lat": lat, "hgs_lon": lon, "hpc_x": "", "hpc_y": ""}
            w.writerow([i] + [d.get(c, "") for c in FLARE_LIST_COLUMNS])
    return path
