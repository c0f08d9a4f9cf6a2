"""A small Helioviewer API client for HMI magnetogram JPEG 2000 images.

The paper downloaded ``getJP2Image`` with ``sourceId=19`` (SDO/HMI line-of-sight
magnetogram) on a 12-minute grid and kept an image only when Helioviewer's
nearest image lay within ±12 minutes of the requested time; files are named
after the *requested* time, ``YYYY/MM/DD/HMI.mYYYY.MM.DD_HH.MM.SS.jp2``.

This client builds the request URLs itself and downloads through
`solarcnn.data.download` (atomic, retried, SHA-256-checked) into the cache
(``solarcnn.data.cache_dir() / "helioviewer"`` unless told otherwise). Nothing
here runs in the tests against the real service: they serve a real JP2 file on
127.0.0.1.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from ..errors import DataFileError
from .labels import image_filename

API = "https://api.helioviewer.org/v2/"
SOURCES = {"hmi_magnetogram": 19, "hmi_continuum": 18, "aia_171": 10, "aia_193": 11}
HMI_MAGNETOGRAM = SOURCES["hmi_magnetogram"]
TOLERANCE = np.timedelta64(12 * 60, "s")


def _iso(date) -> str:
    t = np.datetime64(date, "s")
    if np.isnat(t):
        raise ValueError(f"date must be a time; received {date!r}")
    return str(t) + "Z"


def _source(source) -> int:
    if isinstance(source, str):
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; known: {sorted(SOURCES)} or an integer sourceId")
        return SOURCES[source]
    if not isinstance(source, (int, np.integer)) or source < 0:
        raise ValueError(f"source must be a name or a non-negative integer sourceId; received {source!r}")
    return int(source)


def jp2_request_url(date, source=HMI_MAGNETOGRAM, *, base_url: str = API) -> str:
    """The ``getJP2Image`` URL for `date` (UTC) and `source`.

    >>> jp2_request_url("2011-01-27T01:00:00")
    'https://api.helioviewer.org/v2/getJP2Image/?date=2011-01-27T01%3A00%3A00Z&sourceId=19'
    """
    return f"{base_url.rstrip('/')}/getJP2Image/?" + urlencode({"date": _iso(date), "sourceId": _source(source)})


def closest_image_url(date, source=HMI_MAGNETOGRAM, *, base_url: str = API) -> str:
    """The ``getClosestImage`` URL (JSON with the nearest image's ``date``)."""
    return f"{base_url.rstrip('/')}/getClosestImage/?" + urlencode({"date": _iso(date), "sourceId": _source(source)})


def request_times(start, end, *, cadence_minutes: int = 12) -> np.ndarray:
    """The request grid: every `cadence_minutes` from `start` to `end` inclusive (paper: 12 min)."""
    s, e = np.datetime64(start, "s"), np.datetime64(end, "s")
    if cadence_minutes <= 0 or e < s:
        raise ValueError(f"need cadence_minutes > 0 and end >= start; received {cadence_minutes}, {s}, {e}")
    return np.arange(s, e + np.timedelta64(1, "s"), np.timedelta64(60 * cadence_minutes, "s"))


def within_tolerance(requested, returned, tolerance=TOLERANCE) -> bool:
    """The paper's filter: keep an image only if ``|returned - requested| <= 12 min``."""
    return bool(abs(np.datetime64(returned, "s") - np.datetime64(requested, "s")) <= tolerance)


def parse_closest_image(payload: bytes | str, *, source_url: str = "") -> np.datetime64:
    """The image time in a ``getClosestImage`` JSON answer (``{"date": "YYYY-MM-DD HH:MM:SS", ...}``)."""
    try:
        obj = json.loads(payload)
        return np.datetime64(str(obj["date"]).replace(" ", "T")[:19], "s")
    except (ValueError, KeyError, TypeError) as exc:
        raise DataFileError(source_url or "<getClosestImage answer>",
                            f"not a getClosestImage answer with a 'date' ({type(exc).__name__}: {exc})") from exc


class HelioviewerClient:
    """Download Helioviewer JPEG 2000 images into a cache folder.

    Args:
        cache: destination folder; default ``solarcnn.data.cache_dir() / "helioviewer"``.
        base_url: the API root (tests point it at a loopback server).
        source: a name in `SOURCES` or an integer ``sourceId`` (19: HMI magnetogram).
        retries: download attempts per file.
    """

    def __init__(self, cache: str | os.PathLike | None = None, *, base_url: str = API, source=HMI_MAGNETOGRAM,
                 retries: int = 3, backoff: float = 1.0):
        if cache is None:
            from ..data import cache_dir

            cache = Path(cache_dir()) / "helioviewer"
        self.cache = Path(cache)
        self.base_url, self.source = base_url, _source(source)
        if retries < 1:
            raise ValueError(f"retries must be >= 1; received {retries}")
        self.retries, self.backoff = retries, backoff

    def url(self, date) -> str:
        return jp2_request_url(date, self.source, base_url=self.base_url)

    def path(self, date) -> Path:
        """Cache path named after the requested time, as in the paper."""
        return self.cache / image_filename(date, ext="jp2")

    def fetch(self, date, *, sha256: str | None = None) -> Path:
        """Download the JP2 for `date` (kept if already cached and, when given, its checksum matches)."""
        from ..data import download

        dest = self.path(date)
        if dest.exists():
            if sha256 is None:
                return dest
            from ..data import sha256_file

            if sha256_file(dest) == sha256.lower():
                return dest
        return Path(download(self.url(date), dest, sha256=sha256, retries=self.retries, backoff=self.backoff))

    def fetch_many(self, dates, *, n_jobs: int = 1, progress: bool = True) -> list[Path]:
        from ..utils import parallel_map

        return parallel_map(self.fetch, list(dates), n_jobs=n_jobs, progress=progress, desc="helioviewer",
                            backend="threading")
