"""Data-set manifests: loading and validation.

One YAML file per data set lives in ``data_manifests/`` (format written down in
``data_manifests/README.md``). A manifest either lists real files (each with
its SHA-256, size and public origin) or describes a *derived* (synthetic) set
that a generator builds. `load_manifest` checks every key against the schema
below and raises `solarcnn.errors.ManifestError` naming the manifest file and
the offending key.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ManifestError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

# key -> (required, allowed types, description). Unknown keys are errors: they
# are nearly always typos (``sha265``) that would otherwise be silently ignored.
TOP_KEYS: dict[str, tuple[bool, tuple[type, ...], str]] = {
    "name": (True, (str,), "the data set's name, equal to the file name without .yaml"),
    "description": (True, (str,), "what the data are"),
    "citation": (True, (str,), "whom to cite (paper, DOI, data provider)"),
    "licence": (True, (str,), "the licence of the files / the data"),
    "mirror_dir": (False, (str,), "folder inside $SOLARCNN_DATA_MIRROR holding the files (file sets only)"),
    "files": (False, (list,), "the files of the set (file sets only)"),
    "derived": (False, (dict,), "how to build a synthetic set (derived sets only)"),
    "source": (False, (str,), "free text: where the files were published"),
    "notes": (False, (str,), "free text: caveats"),
}
FILE_KEYS: dict[str, tuple[bool, tuple[type, ...], str]] = {
    "path": (True, (str,), "the file's path relative to the set's folder"),
    "sha256": (True, (str,), "SHA-256 of the file, 64 lower-case hex characters"),
    "size": (True, (int,), "size in bytes"),
    "url": (False, (str,), "public URL of the file itself"),
    "archive": (False, (dict,), "{url, sha256, member}: the file is a member of a published archive"),
    "derived_from": (False, (dict,), "{url, description}: the file is a transformation of a published file"),
    "original_name": (False, (str,), "the file's name at its origin when it was renamed"),
    "note": (False, (str,), "free text"),
}
ARCHIVE_KEYS: dict[str, tuple[bool, tuple[type, ...], str]] = {
    "url": (True, (str,), "public URL of the archive (.tar.gz, .whl, .zip)"),
    "sha256": (True, (str,), "SHA-256 of the archive"),
    "member": (True, (str,), "path of the file inside the archive"),
    "size": (False, (int,), "size of the archive in bytes"),
}
DERIVED_FROM_KEYS: dict[str, tuple[bool, tuple[type, ...], str]] = {
    "url": (True, (str,), "public URL of the published file this one is made from"),
    "description": (True, (str,), "how the file was made from it"),
}
DERIVED_KEYS: dict[str, tuple[bool, tuple[type, ...], str]] = {
    "generator": (True, (str,), "name of the generator, solarcnn.synthetic.get(generator)"),
    "options": (True, (dict,), "generator options; `n` = number of samples, the rest go to the generator"),
    "command": (True, (str,), "shell command that builds the set"),
    "description": (True, (str,), "what the built set contains"),
    "auto_build": (False, (bool,), "true: `fetch` builds the set when missing (only for cheap sets)"),
}


@dataclass(frozen=True)
class FileEntry:
    """One file of a data set, as its manifest declares it."""

    path: str
    sha256: str
    size: int
    url: str | None = None
    archive: dict | None = None
    derived_from: dict | None = None
    original_name: str | None = None
    note: str | None = None

    @property
    def origin(self) -> str:
        """A one-line public origin: the URL, or ``archive-url!member``."""
        if self.url:
            return self.url
        if self.archive:
            return f"{self.archive['url']}!{self.archive['member']}"
        return f"derived from {self.derived_from['url']}"


@dataclass
class Manifest:
    """A validated data-set manifest (also indexable like the YAML dict: ``m["files"]``)."""

    name: str
    description: str
    citation: str
    licence: str
    source_file: Path
    mirror_dir: str | None = None
    files: list[FileEntry] = field(default_factory=list)
    derived: dict | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def is_derived(self) -> bool:
        return self.derived is not None

    @property
    def relpaths(self) -> list[str]:
        """The paths of the set's files, relative to its folder."""
        return [f.path for f in self.files]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, relpath: str) -> FileEntry:
        """The entry of file `relpath`; `ManifestError` listing some known paths if there is none."""
        rel = _normalise_relpath(relpath)
        for f in self.files:
            if f.path == rel:
                return f
        # also accept the path as it is in the mirror, e.g. "tc_tracks/x.csv" or
        # "climate/tc_tracks/x.csv" for file "x.csv" of a set whose mirror_dir is "climate/tc_tracks"
        if self.mirror_dir:
            parts = PurePosixPath(self.mirror_dir).parts
            for k in range(len(parts)):
                prefix = "/".join(parts[k:]) + "/"
                if rel.startswith(prefix):
                    for f in self.files:
                        if f.path == rel[len(prefix):]:
                            return f
        close = [p for p in self.relpaths if PurePosixPath(p).name == PurePosixPath(rel).name]
        hint = f" Did you mean {' or '.join(repr(c) for c in close[:4])}?" if close else ""
        shown = ", ".join(self.relpaths[:8]) + (" …" if len(self.files) > 8 else "")
        raise ManifestError(f"data set {self.name!r} has no file {relpath!r}.{hint} "
                            f"Its {len(self.files)} files include: {shown}")

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


def _normalise_relpath(relpath: str | os.PathLike) -> str:
    text = str(relpath).replace(os.sep, "/")
    while text.startswith("./"):
        text = text[2:]
    return PurePosixPath(text).as_posix() if text else ""


def _check_keys(obj: dict, schema: dict, where: str, src: Path) -> None:
    for key in obj:
        if key not in schema:
            raise ManifestError(f"{src}: unknown key '{where}{key}'; allowed keys: {', '.join(schema)}")
    for key, (required, types, what) in schema.items():
        if key not in obj or obj[key] is None:
            if required:
                raise ManifestError(f"{src}: missing required key '{where}{key}' ({what})")
            continue
        value = obj[key]
        # bool is an int subclass: a size of `true` is not a size.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            tnames = " or ".join(t.__name__ for t in types)
            raise ManifestError(f"{src}: key '{where}{key}' must be {tnames} ({what}); "
                                f"received {value!r} ({type(value).__name__})")
        if isinstance(value, str) and not value.strip():
            raise ManifestError(f"{src}: key '{where}{key}' is empty ({what})")


def _check_sha(value: str, where: str, src: Path) -> None:
    if not _SHA_RE.match(value):
        raise ManifestError(f"{src}: key {where!r} must be 64 lower-case hex characters (a SHA-256); "
                            f"received {value!r}")


def _check_url(value: str, where: str, src: Path) -> None:
    if not re.match(r"^(https?|ftp|file)://", value):
        raise ManifestError(f"{src}: key {where!r} must be an http(s)/ftp/file URL; received {value!r}")


def validate(data: Any, src: str | os.PathLike = "<manifest>") -> Manifest:
    """Check a parsed manifest against the schema and return it as a `Manifest`.

    Raises:
        ManifestError: naming `src` and the offending key.
    """
    src = Path(src)
    if not isinstance(data, dict):
        raise ManifestError(f"{src}: a manifest must be a YAML mapping of keys; received {type(data).__name__}")
    _check_keys(data, TOP_KEYS, "", src)
    name = data["name"]
    if not _NAME_RE.match(name):
        raise ManifestError(f"{src}: key 'name' must be lower-case letters, digits and '_'; received {name!r}")
    if src.suffix in (".yaml", ".yml") and src.stem != name:
        raise ManifestError(f"{src}: key 'name' is {name!r} but the file is called {src.name!r}; "
                            f"name the file {name}.yaml")
    has_files, has_derived = data.get("files") is not None, data.get("derived") is not None
    if has_files == has_derived:
        raise ManifestError(f"{src}: a manifest needs exactly one of the keys 'files' (real files) and "
                            f"'derived' (a synthetic set); it has {'both' if has_files else 'neither'}")
    files: list[FileEntry] = []
    derived = None
    if has_derived:
        if not name.startswith("synthetic_"):
            raise ManifestError(f"{src}: a derived (synthetic) set's name must start with 'synthetic_'; "
                                f"received {name!r}")
        _check_keys(data["derived"], DERIVED_KEYS, "derived.", src)
        derived = dict(data["derived"])
        n = derived["options"].get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise ManifestError(f"{src}: key 'derived.options.n' must be a non-negative integer; received {n!r}")
    else:
        if not data.get("mirror_dir"):
            raise ManifestError(f"{src}: missing required key 'mirror_dir' (the set's folder in the mirror)")
        if not data["files"]:
            raise ManifestError(f"{src}: key 'files' is an empty list")
        seen: set[str] = set()
        for i, entry in enumerate(data["files"]):
            where = f"files[{i}]."
            if not isinstance(entry, dict):
                raise ManifestError(f"{src}: key 'files[{i}]' must be a mapping; received {entry!r}")
            _check_keys(entry, FILE_KEYS, where, src)
            path = entry["path"]
            pp = PurePosixPath(path)
            if pp.is_absolute() or ".." in pp.parts or "\\" in path or path != pp.as_posix():
                raise ManifestError(f"{src}: key '{where}path' must be a clean relative POSIX path; received {path!r}")
            if path in seen:
                raise ManifestError(f"{src}: key '{where}path' repeats {path!r}")
            seen.add(path)
            _check_sha(entry["sha256"], f"{where}sha256", src)
            if entry["size"] < 0:
                raise ManifestError(f"{src}: key '{where}size' must be >= 0; received {entry['size']}")
            origins = [k for k in ("url", "archive", "derived_from") if entry.get(k) is not None]
            if len(origins) != 1:
                raise ManifestError(f"{src}: file {path!r} ({where[:-1]}) needs exactly one of the keys 'url', "
                                    f"'archive', 'derived_from'; it has {origins or 'none'}")
            if entry.get("url") is not None:
                _check_url(entry["url"], f"{where}url", src)
            if entry.get("archive") is not None:
                _check_keys(entry["archive"], ARCHIVE_KEYS, f"{where}archive.", src)
                _check_url(entry["archive"]["url"], f"{where}archive.url", src)
                _check_sha(entry["archive"]["sha256"], f"{where}archive.sha256", src)
            if entry.get("derived_from") is not None:
                _check_keys(entry["derived_from"], DERIVED_FROM_KEYS, f"{where}derived_from.", src)
                _check_url(entry["derived_from"]["url"], f"{where}derived_from.url", src)
            files.append(FileEntry(**{k: entry.get(k) for k in FILE_KEYS}))
    return Manifest(name=name, description=data["description"], citation=data["citation"], licence=data["licence"],
                    source_file=src, mirror_dir=data.get("mirror_dir"), files=files, derived=derived, raw=data)


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate one manifest file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    return validate(data, path)
