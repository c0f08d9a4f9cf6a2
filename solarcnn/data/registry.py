"""The data registry: cache, local mirror, verified atomic downloads.

Every file a notebook reads comes through `fetch`, which puts it in the cache
(``$SOLARCNN_CACHE``, default ``pooch.os_cache("solarcnn")``) under
``<cache>/<data set>/<path>`` and checks its size and SHA-256 against the
manifest. With ``$SOLARCNN_DATA_MIRROR`` set, files are copied from that local
folder (laid out like ``../shared/data``) instead of downloaded. Whatever the
source, a file only ever appears under its final name after its checksum has
passed (temporary file + ``os.replace``), so an interrupted fetch never leaves
a half file that a later run would take for a good one.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from ..errors import ChecksumError, DataFileError, ManifestError
from ..utils import atomic_path, course_folder
from .manifest import FileEntry, Manifest, _normalise_relpath, load_manifest

log = logging.getLogger("solarcnn.data")

CACHE_ENV = "SOLARCNN_CACHE"
MIRROR_ENV = "SOLARCNN_DATA_MIRROR"
MANIFESTS_ENV = "SOLARCNN_MANIFESTS"
_CHUNK = 1 << 20

# (path, size, mtime_ns, inode) of files hashed good in this process: re-fetching
# an unchanged cached file does not hash it twice in one session.
_VERIFIED: dict[str, tuple[int, int, int, str]] = {}


# --------------------------------------------------------------------------- locations
def cache_dir() -> Path:
    """The cache root: ``$SOLARCNN_CACHE`` if set, else ``pooch.os_cache("solarcnn")``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("solarcnn"))


def mirror_dir() -> Path | None:
    """The local mirror folder named by ``$SOLARCNN_DATA_MIRROR``, or None (then: network)."""
    env = os.environ.get(MIRROR_ENV)
    if not env:
        return None
    root = Path(env).expanduser()
    if not root.is_dir():
        raise DataFileError(root, f"${MIRROR_ENV} names this folder, but it does not exist or is not a folder")
    return root


def manifests_dir() -> Path:
    """Where the manifests live: ``$SOLARCNN_MANIFESTS`` if set, else ``data_manifests/``.

    That is the checkout's top-level folder for an editable install, and the copy packaged into an
    installed wheel otherwise (`solarcnn.utils.course_folder`).
    """
    env = os.environ.get(MANIFESTS_ENV)
    if env:
        return Path(env).expanduser()
    return course_folder("data_manifests")


# --------------------------------------------------------------------------- manifests
def _manifest_files() -> dict[str, Path]:
    root = manifests_dir()
    if not root.is_dir():
        raise ManifestError(f"{root}: the manifest folder does not exist (set ${MANIFESTS_ENV} to move it)")
    return {p.stem: p for p in sorted(root.glob("*.yaml"))}


def list_datasets(*, kind: str = "all") -> list[str]:
    """Names of the known data sets, sorted.

    Args:
        kind: ``"all"``, ``"files"`` (real files) or ``"derived"`` (synthetic sets built by a generator).
    """
    if kind not in ("all", "files", "derived"):
        raise ValueError(f"kind must be 'all', 'files' or 'derived'; received {kind!r}")
    names = sorted(_manifest_files())
    if kind == "all":
        return names
    return [n for n in names if manifest(n).is_derived == (kind == "derived")]


def manifest(name: str) -> Manifest:
    """The validated manifest of data set `name` (`ManifestError` listing the known names if unknown)."""
    files = _manifest_files()
    if name not in files:
        raise ManifestError(f"unknown data set {name!r}; known data sets: {', '.join(sorted(files)) or '(none)'} "
                            f"(manifests in {manifests_dir()})")
    return load_manifest(files[name])


# --------------------------------------------------------------------------- hashing
def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: str | os.PathLike, sha256: str | None = None, size: int | None = None, *,
               what: str | None = None) -> None:
    """Raise `ChecksumError` (or `DataFileError` when missing) unless `path` has this size and SHA-256.

    Args:
        what: how to name the file in the message when `path` is a temporary file.
    """
    path = Path(path)
    shown = what or str(path)
    if not path.is_file():
        raise DataFileError(shown, "file is missing")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        hint = " (truncated: an interrupted copy or download?)" if actual_size < size else " (larger than expected)"
        raise ChecksumError(shown, f"size is {actual_size} bytes, expected {size} bytes{hint}")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256.lower():
            raise ChecksumError(shown, f"SHA-256 mismatch: expected {sha256.lower()}, got {actual} "
                                       f"(the file is corrupt or not the published version)")


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _is_good(path: Path, entry: FileEntry) -> bool:
    """True when the cached `path` matches `entry` (hashing it unless already hashed in this process)."""
    key = _stat_key(path)
    if key is None:
        return False
    memo = _VERIFIED.get(str(path))
    if memo is not None and memo == (*key, entry.sha256):
        return True
    try:
        check_file(path, entry.sha256, entry.size)
    except DataFileError:
        _VERIFIED.pop(str(path), None)
        return False
    _VERIFIED[str(path)] = (*key, entry.sha256)
    return True


# --------------------------------------------------------------------------- atomic writes
# Every file lands through `solarcnn.utils.atomic_path`: written under a temporary name beside it, verified
# (size, SHA-256) there, and renamed into place only then; on any failure the temporary file is removed.
def _write_stream(read: Callable[[int], bytes], dest: Path, sha256: str | None, size: int | None,
                  what: str) -> Path:
    """Copy a byte stream into a temporary file next to `dest`, then verify and rename it."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: read(_CHUNK), b""):
                out.write(chunk)
        check_file(tmp, sha256, size, what=what)
    return dest


def copy_verified(src: str | os.PathLike, dest: str | os.PathLike, sha256: str | None = None,
                  size: int | None = None) -> Path:
    """Copy `src` to `dest` atomically; the copy appears only if it has this size and SHA-256."""
    src, dest = Path(src), Path(dest)
    with open(src, "rb") as f:
        return _write_stream(f.read, dest, sha256, size, what=str(src))


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, size: int | None = None,
             retries: int = 3, *, backoff: float = 1.0, progress: bool = False) -> Path:
    """Download `url` to `dest` through pooch, atomically and verified, retrying on failure.

    The body goes to a temporary file next to `dest`, which replaces `dest` only
    once its size and SHA-256 (when given) match. A failed attempt (network
    error, HTTP error, checksum mismatch) is retried up to `retries` times in
    all, waiting ``backoff * 2**k`` seconds between attempts.

    Args:
        url: http(s)/ftp/doi URL (anything ``pooch.choose_downloader`` accepts).
        dest: final path of the file.
        sha256: expected SHA-256 (hex), or None not to check.
        size: expected size in bytes, or None.
        retries: number of attempts, >= 1.
        backoff: first wait in seconds between attempts.
        progress: show pooch's progress bar.

    Returns:
        `dest` as a `Path`.

    Raises:
        ChecksumError: the last attempt delivered a file of the wrong size or hash.
        DataFileError: the last attempt failed to download (message names the URL and `dest`).
    """
    from pooch.downloaders import choose_downloader

    if retries < 1:
        raise ValueError(f"retries must be >= 1; received {retries}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(retries):
        if attempt:
            wait = backoff * 2 ** (attempt - 1)
            log.warning("retrying %s in %.1f s (attempt %d of %d): %s", url, wait, attempt + 1, retries, last)
            time.sleep(wait)
        try:
            downloader = choose_downloader(url, progressbar=progress)
            with atomic_path(dest) as tmp:
                downloader(url, str(tmp), None)
                check_file(tmp, sha256, size, what=f"{dest} (downloaded from {url})")
            return dest
        except ChecksumError as exc:
            last = exc
        except Exception as exc:  # network, HTTP status, disk: reported after the last attempt
            last = exc
            if not _retryable(exc):
                attempt_count = attempt + 1
                break
    else:
        attempt_count = retries
    if isinstance(last, ChecksumError):
        raise last
    tries = f" (after {attempt_count} attempts)" if attempt_count > 1 else ""
    raise DataFileError(dest, f"download of {url} failed{tries}: {type(last).__name__}: {last}") from last


def _retryable(exc: Exception) -> bool:
    """False for HTTP client errors that another attempt cannot fix (404, 403 ...; not 408/429)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in (408, 429))


def _extract_member(archive: Path, member: str, dest: Path, sha256: str, size: int, what: str) -> Path:
    """Extract one member of a .tar.gz/.tgz/.tar or .whl/.zip archive to `dest`, verified and atomic."""
    name = archive.name.lower()
    try:
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                try:
                    info = zf.getinfo(member)
                except KeyError:
                    raise DataFileError(archive, f"archive has no member {member!r}") from None
                with zf.open(info) as f:
                    return _write_stream(f.read, dest, sha256, size, what)
        with tarfile.open(archive) as tf:
            try:
                info = tf.getmember(member)
            except KeyError:
                raise DataFileError(archive, f"archive has no member {member!r}") from None
            f = tf.extractfile(info)
            if f is None:
                raise DataFileError(archive, f"archive member {member!r} is not a regular file")
            with f:
                return _write_stream(f.read, dest, sha256, size, what)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(archive, f"cannot read the archive: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- fetching
def path(name: str, relpath: str | None = None) -> Path:
    """Where data set `name` (or its file `relpath`) lives in the cache; fetches nothing.

    Checks only that the data set (and the file, when given) is in the manifest.
    """
    m = manifest(name)
    root = cache_dir() / name
    if relpath is None:
        return root
    if m.is_derived:
        return root / _normalise_relpath(relpath)
    return root / m.file(relpath).path


def _select(m: Manifest, relpath: str | None) -> tuple[list[FileEntry], str]:
    """The files `relpath` names (all, one file, or a folder of the set) and its canonical relative path."""
    if relpath is None:
        return list(m.files), ""
    rel = _normalise_relpath(relpath).rstrip("/")
    under = [f for f in m.files if f.path.startswith(rel + "/")]
    if under and rel not in m.relpaths:   # a folder of the set, e.g. fetch("goes_flares", "noaa_srs")
        return under, rel
    entry = m.file(relpath)               # raises the "no such file" ManifestError
    return [entry], entry.path


def _remove_stale_parts(dest: Path) -> None:
    """Delete the temporary files of `dest` (``.part-<pid>-<thread>-<name>``, or the older
    ``.<name>.part-<pid>-<hex>``) left by a process that no longer runs (a fetch killed with kill -9)."""
    try:
        parts = [(t, t.name[len(".part-"):]) for t in dest.parent.glob(f".part-*-{dest.name}")]
        parts += [(t, t.name[len(f".{dest.name}.part-"):]) for t in dest.parent.glob(f".{dest.name}.part-*")]
    except OSError:
        return
    for tmp, rest in parts:
        try:
            pid = int(rest.split("-")[0])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue                          # that process still runs (another fetch): leave its file
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            tmp.unlink()
            log.info("%s: removed the partial file of a fetch that did not finish (process %d)", tmp, pid)
        except OSError:
            pass


_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def _cache_not_writable(dest: Path, exc: OSError) -> DataFileError:
    """The error for a cache this process cannot write into; it names $SOLARCNN_CACHE."""
    return DataFileError(dest, f"cannot write into the data cache {cache_dir()} ({exc.strerror or exc}); "
                               f"set ${CACHE_ENV} to a writable folder")


def _fetch_entry(m: Manifest, entry: FileEntry, root: Path, mirror: Path | None, progress: bool) -> str:
    """Make `root/entry.path` a verified copy; return how: "cached", "mirror", "download", "archive"."""
    dest = root / entry.path
    if dest.exists():
        if _is_good(dest, entry):
            return "cached"
        log.warning("%s: cached copy fails its size/SHA-256 check; fetching it again", dest)
    _remove_stale_parts(dest)
    try:
        how = _get_entry(m, entry, dest, mirror, progress)
    except DataFileError as exc:              # download() wraps a disk error in one
        cause = exc.__cause__
        if isinstance(cause, OSError) and not isinstance(cause, DataFileError) and cause.errno in _NOT_WRITABLE:
            raise _cache_not_writable(dest, cause) from exc
        raise
    except OSError as exc:
        if exc.errno in _NOT_WRITABLE:
            raise _cache_not_writable(dest, exc) from exc
        raise
    key = _stat_key(dest)
    if key is not None:
        _VERIFIED[str(dest)] = (*key, entry.sha256)
    return how


def _get_entry(m: Manifest, entry: FileEntry, dest: Path, mirror: Path | None, progress: bool) -> str:
    """Copy or download one file of a set to `dest` (verified); return how."""
    if mirror is not None:
        src = mirror / m.mirror_dir / entry.path
        if not src.is_file():
            raise DataFileError(src, f"file of data set {m.name!r} is missing in the mirror "
                                     f"(${MIRROR_ENV}={mirror}); expected {entry.path!r} under "
                                     f"{mirror / m.mirror_dir}")
        copy_verified(src, dest, entry.sha256, entry.size)
        how = "mirror"
    elif entry.url:
        download(entry.url, dest, entry.sha256, entry.size, progress=progress)
        how = "download"
    elif entry.archive:
        arc = entry.archive
        arc_name = PurePosixPath(arc["url"].split("?")[0]).name
        arc_path = cache_dir() / "_archives" / arc["sha256"][:12] / arc_name
        if not _is_good(arc_path, FileEntry(arc_name, arc["sha256"], arc.get("size"))):
            download(arc["url"], arc_path, arc["sha256"], arc.get("size"), progress=progress)
        _extract_member(arc_path, arc["member"], dest, entry.sha256, entry.size,
                        what=f"{dest} (member {arc['member']} of {arc['url']})")
        how = "archive"
    else:
        src = entry.derived_from or {}
        raise DataFileError(dest, f"this file is not published byte for byte: it is derived from "
                                  f"{src.get('url')} ({src.get('description')}). Get it from a mirror "
                                  f"(set ${MIRROR_ENV}) or build it as described.")
    return how


def iter_fetch(name: str, relpath: str | None = None, *, progress: bool = False
               ) -> Iterator[tuple[str, str, Exception | None]]:
    """Fetch files one by one, yielding ``(relpath, how, error)``; errors are yielded, not raised.

    `how` is "cached", "mirror", "download", "archive" or "failed". Used by the CLI
    to print per-file status; notebooks use `fetch`.
    """
    m = manifest(name)
    if m.is_derived:
        raise ManifestError(_derived_message(m))
    root = cache_dir() / name
    mirror = mirror_dir()
    for entry in _select(m, relpath)[0]:
        try:
            yield entry.path, _fetch_entry(m, entry, root, mirror, progress), None
        except (DataFileError, OSError) as exc:
            yield entry.path, "failed", exc


def fetch(name: str, relpath: str | None = None, *, build: bool | None = None, progress: bool = False) -> Path:
    """Make data set `name` (or one of its files) available locally and return its path.

    Files already in the cache are re-verified (size + SHA-256); a bad one is
    fetched again. Files come from ``$SOLARCNN_DATA_MIRROR`` when it is set,
    else from their public URL (or the published archive they are a member of).

    Args:
        name: a data set, see `list_datasets()`.
        relpath: one file of the set (its path inside the set, e.g.
            ``"images/ASC100-1006_001.png"``) or a folder of the set; None for all files.
        build: derived (synthetic) sets only: build the set with its generator when
            missing. None: as the manifest's ``derived.auto_build`` says.
        progress: show download progress bars.

    Returns:
        ``<cache>/<name>/`` for the whole set or a folder of it, ``<cache>/<name>/<relpath>`` for a file.

    Raises:
        ManifestError: unknown data set or file, or a malformed manifest.
        ChecksumError: a file has the wrong size or SHA-256 (message: expected vs actual).
        DataFileError: a file is missing in the mirror or cannot be downloaded.
    """
    m = manifest(name)
    root = cache_dir() / name
    if m.is_derived:
        return _fetch_derived(m, root, relpath, build)
    mirror = mirror_dir()
    entries, rel = _select(m, relpath)
    for entry in entries:
        _fetch_entry(m, entry, root, mirror, progress)
    return root / rel if rel else root


@dataclass
class FileStatus:
    """The result of checking one cached file (`verify`)."""

    path: str
    ok: bool
    status: str        # "ok", "missing", "size mismatch", "checksum mismatch"
    message: str = ""


def verify(name: str, relpath: str | None = None, *, raise_on_error: bool = False) -> list[FileStatus]:
    """Check the cached files of data set `name` against its manifest (size + SHA-256); fetches nothing.

    Args:
        raise_on_error: raise the first file's `ChecksumError`/`DataFileError` instead of reporting it.

    Returns:
        One `FileStatus` per file (all ``ok`` when the cached set is complete and intact).
    """
    m = manifest(name)
    if m.is_derived:
        raise ManifestError(_derived_message(m) + " Derived sets have no checksums to verify.")
    root = cache_dir() / name
    out = []
    for entry in _select(m, relpath)[0]:
        dest = root / entry.path
        try:
            check_file(dest, entry.sha256, entry.size)
        except ChecksumError as exc:
            if raise_on_error:
                raise
            status = "size mismatch" if exc.problem.startswith("size") else "checksum mismatch"
            out.append(FileStatus(entry.path, False, status, str(exc)))
            continue
        except DataFileError as exc:
            if raise_on_error:
                raise DataFileError(dest, f"file of data set {name!r} is not in the cache; run "
                                          f"`solarcnn data fetch {name}`") from exc
            out.append(FileStatus(entry.path, False, "missing",
                                  f"{dest}: not in the cache (run `solarcnn data fetch {name}`)"))
            continue
        key = _stat_key(dest)
        if key is not None:
            _VERIFIED[str(dest)] = (*key, entry.sha256)
        out.append(FileStatus(entry.path, True, "ok"))
    return out


# --------------------------------------------------------------------------- derived sets
def _derived_message(m: Manifest) -> str:
    d = m.derived or {}
    return (f"data set {m.name!r} is derived (synthetic): {d.get('description', '').strip()} "
            f"Build it with `{d.get('command')}` or `fetch({m.name!r}, build=True)` "
            f"(generator {d.get('generator')!r}, options {d.get('options')}).")


_DONE = ".solarcnn-built"

# The generators live in `solarcnn.synthetic`, a layer above this one, so the registry never imports them: whoever
# sits above both hands it a lookup (the package's ``__init__`` passes ``solarcnn.synthetic.get``), or a caller
# passes ``generators=`` to `build_derived`.
_GENERATORS: Callable | None = None


def use_generators(lookup: Callable | None) -> None:
    """Set how derived sets find their generator: ``lookup(name, **options)`` returns an object with
    ``write(out, n, n_jobs=..., progress=...)``. ``import solarcnn`` sets `solarcnn.synthetic.get`.

    Args:
        lookup: the function, or None to forget it.
    """
    global _GENERATORS
    if lookup is not None and not callable(lookup):
        raise TypeError(f"use_generators: lookup must be callable, got {lookup!r}")
    _GENERATORS = lookup


def build_derived(name: str, out: str | os.PathLike | None = None, *, progress: bool = False,
                  generators: Callable | None = None) -> Path:
    """Build derived data set `name` with its generator into `out` (default ``<cache>/<name>/``).

    The generator is ``generators(derived.generator, **options)`` (by default the
    lookup set with `use_generators`: ``solarcnn.synthetic.get``) with ``options``
    minus ``n`` and ``n_jobs``; it writes ``n`` samples with
    ``write(out, n, n_jobs=...)`` (deterministic, resumable, one file at a
    time atomically). A marker file records a completed build.
    """
    m = manifest(name)
    if not m.is_derived:
        raise ManifestError(f"data set {name!r} is a set of real files, not a derived one; use fetch({name!r})")
    lookup = generators or _GENERATORS
    if lookup is None:
        raise ManifestError(f"data set {name!r} needs generator {m.derived['generator']!r} but no generator lookup "
                            "is set; import solarcnn (it sets solarcnn.synthetic.get) or pass generators=")

    opts = dict(m.derived["options"])
    n = int(opts.pop("n", 0))
    n_jobs = int(opts.pop("n_jobs", 1))
    try:
        gen = lookup(m.derived["generator"], **opts)
    except KeyError as exc:
        raise ManifestError(f"{m.source_file}: key 'derived.generator': {exc.args[0]}") from None
    except TypeError as exc:
        raise ManifestError(f"{m.source_file}: key 'derived.options' does not fit generator "
                            f"{m.derived['generator']!r}: {exc}") from None
    root = Path(out) if out is not None else cache_dir() / name
    root.mkdir(parents=True, exist_ok=True)
    gen.write(root, n, n_jobs=n_jobs, progress=progress)
    from ..utils import atomic_write_text

    atomic_write_text(root / _DONE, _done_text(m))
    return root


def _done_text(m: Manifest) -> str:
    """The marker of a completed build: the generator and every option it was built with."""
    return f"{m.derived['generator']} {m.derived['options']}\n"


def _fetch_derived(m: Manifest, root: Path, relpath: str | None, build: bool | None) -> Path:
    marker = root / _DONE
    try:
        built = marker.read_text() == _done_text(m)
    except OSError:
        built = False
    if not built and marker.is_file():
        # built with other options than the manifest's: build again (the generator's stamp then keeps the
        # files made with the same settings, or refuses a folder of other ones, naming it)
        if build is False:
            raise DataFileError(root, f"was built with other options ({marker.read_text().strip()}) than the "
                                      f"manifest's ({_done_text(m).strip()}). " + _derived_message(m))
        log.info("%s: built with other options than the manifest's; building it again", root)
        build = True
    if not built:
        if build is None:
            build = bool(m.derived.get("auto_build", False))
        if not build:
            raise DataFileError(root, "not built yet. " + _derived_message(m))
        build_derived(m.name)
    target = root if relpath is None else root / _normalise_relpath(relpath)
    if not target.exists():
        raise DataFileError(target, f"not in the built data set {m.name!r}; it holds "
                                    f"{', '.join(sorted(p.name for p in root.iterdir() if p.name != _DONE)[:6])} …")
    return target
