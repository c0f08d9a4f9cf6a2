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

from dataclasses import dataclass

import numpy as np

# The catalogue format (GOES classes, FlareList, the CSV reader and writer) lives in `solarcnn.io.goes`;
# its names stay importable from here.
from ..io.goes import (  # noqa: F401
    _LETTER_FLUX, _REQUIRED, CLASS_RE, FLARE_LIST_COLUMNS, FlareList, _parse_float, _parse_time, class_flux,
    read_flare_list, write_flare_list,
)

WINDOW = np.timedelta64(24 * 3600 - 1, "s")   # t + 23:59:59


def binarize(goes_class: str, threshold: str = "M") -> int:
    """1 when the window's class is at least ``threshold`` 1.0 (``"M"``: M or X; ``"C"``: C, M or X)."""
    if threshold == "M":
        return int(str(goes_class)[:1] in ("M", "X"))
    if threshold == "C":
        return int(str(goes_class)[:1] in ("C", "M", "X"))
    raise ValueError(f"threshold must be 'M' or 'C'; received {threshold!r}")


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
    covered: np.ndarray | None = None   # True where the window lies inside the catalogue's span
    # (outside="mask": target -1 and goes_class "outside" there, never a negative)

    def __len__(self) -> int:
        return len(self.time)

    @property
    def letter(self) -> np.ndarray:
        return np.array([c[:1] if c != "NF" else "N" for c in self.goes_class])


def catalogue_span(flares: FlareList, coverage=None) -> tuple[np.datetime64, np.datetime64]:
    """The period a flare list covers: `coverage` ``(start, end)`` if given, else ``flares.extra["coverage"]``,
    else whole UTC days from the day of its first flare to the end of the day of its last one (a catalogue
    lists every flare of the days it covers; what lies beyond them is unknown, not flare-free).

    Raises:
        ValueError: an empty list without `coverage`, or an end before the start.
    """
    cov = coverage if coverage is not None else (flares.extra or {}).get("coverage")
    if cov is not None:
        try:
            a, b = (np.datetime64(c, "s") for c in cov)
        except (TypeError, ValueError):
            raise ValueError(f"coverage must be (start, end) times; received {cov!r}") from None
        if np.isnat(a) or np.isnat(b) or b < a:
            raise ValueError(f"coverage must be (start, end) with end >= start; received {cov!r}")
        return a, b
    if len(flares) == 0:
        raise ValueError(f"flare list {flares.source or '(in memory)'} holds no flares: its span is unknown; pass "
                         "coverage=(start, end)")
    day = np.timedelta64(1, "D")
    first = flares.start.min().astype("datetime64[D]").astype("datetime64[s]")
    last = flares.start.max().astype("datetime64[D]").astype("datetime64[s]") + day - np.timedelta64(1, "s")
    return first, last


def label_times(times, flares: FlareList, *, threshold: str = "M", order: str = "string",
                window=WINDOW, outside: str = "raise", coverage=None) -> Labels:
    """Label image times with the original's 24-hour rule (see the module docstring).

    A time whose window ``(t, t + window]`` is not inside the catalogue's span (`catalogue_span`) cannot be
    labelled: the list does not say whether flares happened then (the shipped SWPC list has X-class flares
    in the week before the Pandey et al. list starts), so it is never labelled "no flare".

    Args:
        times: image times (anything ``np.datetime64`` accepts), e.g. hourly.
        flares: the flare catalogue (`read_flare_list`).
        threshold: ``"M"`` (>= M1.0, the paper) or ``"C"``.
        order: ``"string"`` (faithful: largest class by string sort) or ``"flux"`` (by peak flux).
        window: the window length after t (default 23:59:59, inclusive).
        outside: ``"raise"`` (default): such times are an error; ``"mask"``: they get ``target = -1``,
            class ``"outside"`` and ``covered = False`` (the metrics reject -1, so they cannot pass as negatives).
        coverage: ``(start, end)`` of the catalogue, when it is known better than from its first and last flare
            (e.g. a synthetic list: the simulated period).

    Raises:
        ValueError: times outside the span (``outside="raise"``), or a bad `order`, `outside` or `coverage`.
    """
    if order not in ("string", "flux"):
        raise ValueError(f"order must be 'string' or 'flux'; received {order!r}")
    if outside not in ("raise", "mask"):
        raise ValueError(f"outside must be 'raise' or 'mask'; received {outside!r}")
    times = np.asarray(times, dtype="datetime64[s]").reshape(-1)
    if np.isnat(times).any():
        raise ValueError(f"times hold {int(np.isnat(times).sum())} NaT value(s); every image needs a time")
    span_start, span_end = catalogue_span(flares, coverage)
    covered = (times >= span_start) & (times + window <= span_end)
    if len(flares) != len(flares.goes_class) or len(flares) != len(flares.lat) or len(flares) != len(flares.lon):
        raise ValueError(f"flare list {flares.source or '(in memory)'}: start, goes_class, lat and lon differ in "
                         f"length ({len(flares)}, {len(flares.goes_class)}, {len(flares.lat)}, {len(flares.lon)})")
    if np.isnat(flares.start).any():
        raise ValueError(f"flare list {flares.source or '(in memory)'} holds NaT start times")
    if len(flares) > 1 and np.any(np.diff(flares.start) < np.timedelta64(0, "s")):
        flares = flares.select(np.argsort(flares.start, kind="stable"))   # the search below needs start order
    if outside == "raise" and not covered.all():
        bad = times[~covered]
        raise ValueError(f"{int((~covered).sum())} of {len(times)} time(s) (first {bad[0]}, last {bad[-1]}) have "
                         f"24-hour windows outside the span of the flare list {flares.source or '(in memory)'} "
                         f"({span_start} .. {span_end}); they cannot be labelled 'no flare'. Use times inside it, "
                         "pass coverage=(start, end) if the list covers more, or outside='mask'")
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
    target[~covered] = -1
    cls[~covered] = "outside"
    return Labels(times, target, cls.astype(str), lon, lat, fstart, (hi - lo).clip(min=0), rest, covered)


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
