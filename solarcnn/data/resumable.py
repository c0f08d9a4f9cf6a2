"""Resumable, verified HTTP downloads into a folder with a SHA-256 index (standard library only).

Used by the real-data downloads of the tracks (`solarcnn.flare.archive.download_hmi`,
`solarcnn.deepcam.archive.download_small`). Per file:

- the body goes to ``<dest>.part``; a run killed at any point (kill -9 included) leaves that file, and the
  next run asks the server for the rest with an HTTP ``Range: bytes=N-`` header (a server that answers 200
  instead of 206 sends it all again, and the ``.part`` file is restarted);
- failed attempts (network errors, timeouts, HTTP 5xx, 408, 429, a truncated body, a body that fails its
  check) are retried a bounded number of times with exponential back-off; HTTP 4xx errors are not;
- requests are spaced by at least ``min_interval`` seconds (a polite rate limit);
- on arrival the file is checked (``check(path)`` raises `DataFileError` when it does not open or is not what
  was asked for) before it is renamed into place, and its SHA-256 and size are written to the folder's index
  ``.solarcnn-index.json``; later runs (and `Downloader.verify`) compare the file with the index, so a
  corrupted file is found and fetched again;
- a progress bar (tqdm) is shown only when stderr is a terminal, unless told otherwise;
- two processes never write one file: a second download of a file that is being fetched into the same folder
  stops at once with a clear error (a lock per file, and one for the index, released even by kill -9).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..errors import ChecksumError, DataFileError

log = logging.getLogger("solarcnn.data")

INDEX_NAME = ".solarcnn-index.json"
USER_AGENT = "solarcnn (teaching and research package; Python urllib)"
_CHUNK = 1 << 16


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _retryable_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix."""


class _FileLock:
    """An exclusive lock between processes on `path` (``fcntl.flock``; released when the holder dies, kill -9
    included). ``wait=False`` raises `DataFileError` at once when another process holds it."""

    def __init__(self, path: Path, what, *, wait: bool = True):
        self.path, self.what, self.wait = Path(path), what, wait
        self._fh = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:            # no flock (Windows): the thread lock and atomic renames still hold
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self._fh.close()
            self._fh = None
            raise DataFileError(self.what, "another process is downloading this file into the same folder now; "
                                           "wait for it (or stop it) and run again") from None
        return self

    def __exit__(self, *exc):
        if self._fh is not None:
            self._fh.close()           # closing releases the flock
            self._fh = None


class Downloader:
    """Download files into `root` resumably, checked on arrival, with a SHA-256 index.

    Args:
        root: the destination folder; files go to ``root / relpath``, the index to ``root/.solarcnn-index.json``.
        retries: attempts per file (>= 1).
        backoff: first wait in seconds between attempts; it doubles each time (at most `max_wait`).
        max_wait: the longest wait between attempts.
        min_interval: at least this many seconds between the starts of two requests (rate limit).
        timeout: socket timeout per request, seconds.
        progress: show a progress bar (None: only when stderr is a terminal).
        opener: a ``urllib.request.OpenerDirector`` (tests may pass one; default: urllib's).
    """

    def __init__(self, root, *, retries: int = 4, backoff: float = 2.0, max_wait: float = 60.0,
                 min_interval: float = 1.0, timeout: float = 60.0, progress: bool | None = None, opener=None):
        if retries < 1:
            raise ValueError(f"retries must be >= 1; received {retries!r}")
        if backoff < 0 or min_interval < 0 or timeout <= 0:
            raise ValueError(f"need backoff >= 0, min_interval >= 0, timeout > 0; received {backoff!r}, "
                             f"{min_interval!r}, {timeout!r}")
        self.root = Path(root).expanduser()
        self.retries, self.backoff, self.max_wait = int(retries), float(backoff), float(max_wait)
        self.min_interval, self.timeout = float(min_interval), float(timeout)
        self.progress = progress
        self._opener = opener or urllib.request.build_opener()
        self._last_request = 0.0
        self._lock = threading.Lock()
        self.index_path = self.root / INDEX_NAME
        self.requests = 0          # HTTP requests made (for reports and tests)

    # ------------------------------------------------------------------------------------------ index
    def index(self) -> dict:
        """The folder's index: ``{relpath: {"sha256", "size", "url"}}`` (empty when there is none yet)."""
        try:
            data = json.loads(self.index_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise DataFileError(self.index_path, f"the download index is unreadable ({type(exc).__name__}: {exc}); "
                                                 "delete it to rebuild it (every file is then checked again)")
        if not isinstance(data, dict) or not isinstance(data.get("files", {}), dict):
            raise DataFileError(self.index_path, "the download index is not a JSON object with 'files'")
        return data.get("files", {})

    def _update_index(self, relpath: str, entry: dict | None) -> None:
        with self._lock, _FileLock(self.root / f".{INDEX_NAME}.lock", self.index_path):
            files = self.index()
            if entry is None:
                files.pop(relpath, None)
            else:
                files[relpath] = entry
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.index_path.with_name(f".{INDEX_NAME}.part-{os.getpid()}")
            tmp.write_text(json.dumps({"files": dict(sorted(files.items()))}, indent=1))
            os.replace(tmp, self.index_path)

    def verify(self, relpath: str | None = None) -> dict[str, str]:
        """Compare indexed files with the index: ``{relpath: problem}`` for each missing or corrupted one."""
        problems = {}
        files = self.index()
        for rel, entry in sorted(files.items()):
            if relpath is not None and rel != relpath:
                continue
            problem = self._problem(self.root / rel, entry)
            if problem:
                problems[rel] = problem
        return problems

    @staticmethod
    def _problem(path: Path, entry: dict) -> str | None:
        if not path.is_file():
            return "missing"
        size = path.stat().st_size
        if entry.get("size") is not None and size != entry["size"]:
            return f"size is {size} bytes, the index says {entry['size']}"
        actual = _sha256(path)
        if actual != entry.get("sha256"):
            return f"SHA-256 is {actual}, the index says {entry.get('sha256')}"
        return None

    # ------------------------------------------------------------------------------------------ requests
    def _wait_turn(self) -> None:
        with self._lock:
            wait = self._last_request + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()
            self.requests += 1

    def _open(self, url: str, headers: dict | None = None):
        self._wait_turn()
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        return self._opener.open(req, timeout=self.timeout)

    def _attempts(self, url: str, what, attempt_fn):
        """Run `attempt_fn()` up to `retries` times; raise `DataFileError` naming `what` and `url` at the end."""
        last = None
        for attempt in range(self.retries):
            if attempt:
                wait = min(self.max_wait, self.backoff * 2 ** (attempt - 1))
                log.warning("retrying %s in %.1f s (attempt %d of %d): %s", url, wait, attempt + 1, self.retries,
                            last)
                time.sleep(wait)
            try:
                return attempt_fn()
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
                if not _retryable_status(exc.code):
                    raise DataFileError(what, f"download of {url} failed: {last} (not retried: the server "
                                              "refuses this request)") from None
            except _Retry as exc:
                last = str(exc)
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                if isinstance(exc, DataFileError):
                    raise
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        tries = f"{self.retries} attempt{'s' if self.retries > 1 else ''}"
        raise DataFileError(what, f"download of {url} failed after {tries}; last error: {last}")

    def get_bytes(self, url: str, *, what: str | None = None, max_bytes: int = 10 << 20) -> bytes:
        """A small answer (an API's JSON, a folder index) in memory, with the same retries and rate limit."""
        def attempt():
            with self._open(url) as resp:
                body = resp.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise DataFileError(what or url, f"answer of {url} is larger than {max_bytes} bytes")
            return body

        return self._attempts(url, what or url, attempt)

    # ------------------------------------------------------------------------------------------ files
    def fetch(self, url: str, relpath: str, *, check: Callable[[Path], None] | None = None,
              refetch_corrupt: bool = True) -> Path:
        """Download `url` to ``root / relpath`` (kept when already there and intact).

        Args:
            url: the file's URL.
            relpath: where it goes under `root` (``/``-separated).
            check: called with the downloaded file before it is renamed into place (and with an existing file
                that is not in the index yet); raises `DataFileError` when the file does not open or is not
                what was asked for.
            refetch_corrupt: a file whose SHA-256 differs from the index is fetched again (False: raise
                `ChecksumError`).

        Returns:
            The file's path.

        Raises:
            DataFileError: every attempt failed (the message names the file, the URL and the last error), or
                the server refused the request (HTTP 4xx).
            ChecksumError: the file is corrupted and `refetch_corrupt` is False.
        """
        dest = self.root / relpath
        with _FileLock(dest.with_name(f".{dest.name}.lock"), dest, wait=False):
            return self._fetch_locked(url, relpath, dest, check, refetch_corrupt)

    def _fetch_locked(self, url: str, relpath: str, dest: Path, check, refetch_corrupt: bool) -> Path:
        entry = self.index().get(relpath)
        if dest.is_file():
            if entry is not None:
                problem = self._problem(dest, entry)
                if problem is None:
                    return dest
                if not refetch_corrupt:
                    raise ChecksumError(dest, f"corrupted since it was downloaded: {problem}")
                log.warning("%s: corrupted since it was downloaded (%s); fetching it again", dest, problem)
                dest.unlink()
                self._update_index(relpath, None)
            else:
                try:
                    if check is not None:
                        check(dest)
                except DataFileError as exc:
                    log.warning("%s: present but fails its check (%s); fetching it again", dest, exc.problem)
                    dest.unlink()
                else:
                    self._record(dest, relpath, url)
                    return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")

        def attempt():
            self._download_part(url, part, dest)
            try:
                if check is not None:
                    check(part)
            except DataFileError as exc:
                part.unlink(missing_ok=True)
                raise _Retry(f"the downloaded file fails its check: {exc.problem}") from None
            os.replace(part, dest)
            return dest

        self._attempts(url, dest, attempt)
        self._record(dest, relpath, url)
        return dest

    def _record(self, dest: Path, relpath: str, url: str) -> None:
        self._update_index(relpath, {"sha256": _sha256(dest), "size": dest.stat().st_size, "url": url})

    def _download_part(self, url: str, part: Path, dest: Path) -> None:
        """One attempt: continue `part` from its current size (Range) or start it again."""
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            resp = self._open(url, headers)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:          # nothing left to send: the part may be complete
                total = _range_total(exc.headers.get("Content-Range", ""))
                if total == offset:
                    return
                part.unlink(missing_ok=True)
                raise _Retry(f"HTTP 416 for Range bytes={offset}- (the .part file is longer than the file); "
                             "starting again") from None
            raise
        with resp:
            status = resp.status
            if status == 206 and offset:
                content_range = resp.headers.get("Content-Range", "")
                start = _range_start(content_range)
                if start != offset:
                    part.unlink(missing_ok=True)
                    raise _Retry(f"server answered Range bytes={offset}- with {content_range!r}; starting again")
                total = _range_total(content_range)
                mode = "ab"
            elif status == 200:
                if offset:
                    log.info("%s: the server does not resume (HTTP 200 to a Range request); starting again", url)
                offset = 0
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            else:
                raise _Retry(f"unexpected HTTP status {status}")
            self._stream(resp, part, mode, offset, total, dest.name)
        size = part.stat().st_size
        if total is not None and size != total:
            raise _Retry(f"transfer ended after {size} of {total} bytes (kept in {part.name}; resuming)")

    def _stream(self, resp, part: Path, mode: str, offset: int, total: int | None, name: str) -> None:
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=name, leave=False)
        read = getattr(resp, "read1", resp.read)
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        chunk = read(_CHUNK)
                    except (TimeoutError, ConnectionError, OSError) as exc:
                        raise _Retry(f"connection lost after {out.tell()} bytes ({type(exc).__name__}: {exc}); "
                                     f"kept in {part.name}") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    out.flush()            # what arrived survives a kill -9: the next run resumes after it
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()


def _range_start(content_range: str) -> int | None:
    """``bytes 100-199/200`` -> 100."""
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _range_total(content_range: str) -> int | None:
    """``bytes 100-199/200`` (or ``bytes */200``) -> 200; None when unknown (``/*``)."""
    try:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    except IndexError:
        return None
