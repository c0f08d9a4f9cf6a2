"""The interface every synthetic-data generator follows.

Real observations are scarce offline, so each track ships a generator that
writes files *in the exact real on-disk format* (FITS with the instrument's
header keys and HDUs, HDF5 with the benchmark's dataset names, JPEG 2000 and
CSV catalogues). The pipeline that reads real files then reads synthetic ones
unchanged. Each generator:

- is deterministic: sample ``i`` of seed ``s`` is always the same, whatever
  the order or the number of worker processes (``rng = self.rng(i)``);
- has learnable, physically motivated structure (documented per generator);
- writes files with `write`, in parallel if asked, resumable (existing files
  are kept), and atomically (no half-written file under the final name).

Subclasses implement `sample` (arrays + metadata) and `save` (one file).
"""
from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

_REGISTRY: dict[str, type["SyntheticGenerator"]] = {}
_SKIP = object()


@dataclass
class Sample:
    """One synthetic example: its arrays, its label (if any) and metadata."""

    data: np.ndarray
    label: Any = None
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)   # e.g. a mask, a second HDU


def register(cls):
    """Class decorator: make a generator available as ``solarcnn.synthetic.get(cls.name)``."""
    if not getattr(cls, "name", None):
        raise ValueError(f"{cls.__name__} needs a class attribute `name`")
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str, **options) -> "SyntheticGenerator":
    """Instantiate a registered generator by name."""
    from . import _load_all

    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"no synthetic generator {name!r}; available: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**options)


def available() -> dict[str, str]:
    """Registered generator names with their one-line descriptions."""
    from . import _load_all

    _load_all()
    return {n: (c.__doc__ or "").strip().splitlines()[0] for n, c in sorted(_REGISTRY.items())}


class SyntheticGenerator(abc.ABC):
    """Base class of the synthetic-data generators.

    Args:
        seed: the generator's seed; with the sample index it fixes every sample.
    """

    name: ClassVar[str] = ""
    file_format: ClassVar[str] = ""          # "fits", "hdf5", "jp2+csv", ...
    classes: ClassVar[tuple[str, ...]] = ()  # class names for classification data

    def __init__(self, seed: int = 0):
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer; received {seed!r}")
        self.seed = int(seed)

    def rng(self, index: int) -> np.random.Generator:
        """The random generator of sample `index`: independent of call order."""
        return np.random.default_rng([self.seed, int(index)])

    @abc.abstractmethod
    def sample(self, index: int, label=None) -> Sample:
        """Return sample `index` (of class `label` where that applies)."""

    @abc.abstractmethod
    def save(self, sample: Sample, path: Path) -> Path:
        """Write one sample to `path` in the real on-disk format; return the path."""

    def filename(self, index: int, sample_label=None) -> str:
        """The file name of sample `index` (override for instrument-like names)."""
        return f"{self.name}_{index:06d}.{self.file_format or 'dat'}"

    def label_for(self, index: int):
        """The label of sample `index` when classes cycle (override to change)."""
        return self.classes[index % len(self.classes)] if self.classes else None

    def _write_one(self, index: int, directory: Path, overwrite: bool = False) -> Path:
        label = self.label_for(index)
        path = directory / self.filename(index, label)
        if path.exists() and not overwrite:   # resumable: keep what is already written (under a matching stamp)
            return path
        return self.save(self.sample(index, label), path)

    def stamp(self) -> dict:
        """What makes this generator's files: its name, its module's ``VERSION`` and every option.

        Options are the public attributes of plain types (numbers, strings, times, tuples of them); derived
        arrays are left out. `write` keeps this in ``<directory>/.<name>.synthetic.json`` and reuses existing
        files only under an identical stamp.
        """
        import sys

        def plain(v):
            if isinstance(v, (bool, int, float, str)) or v is None:
                return v
            if isinstance(v, np.generic):
                return v.item() if not isinstance(v, np.datetime64) else str(v)
            if isinstance(v, (tuple, list)):
                out = [plain(x) for x in v]
                return None if any(x is _SKIP for x in out) else out
            if hasattr(v, "isoformat"):
                return v.isoformat()
            return _SKIP

        options = {k: plain(v) for k, v in sorted(vars(self).items()) if not k.startswith("_")}
        options = {k: v for k, v in options.items() if v is not _SKIP}
        version = getattr(sys.modules.get(type(self).__module__), "VERSION", 0)
        return {"generator": self.name, "version": version, "options": options}

    @property
    def reused(self) -> list:
        """The existing files the last `write` kept (same stamp) instead of writing them."""
        return list(getattr(self, "_reused", []))

    def stamp_path(self, directory: str | os.PathLike) -> Path:
        """The stamp file of this generator in `directory`."""
        return Path(directory) / f".{self.name}.synthetic.json"

    def write(self, directory: str | os.PathLike, n: int, *, start: int = 0, n_jobs: int = 1,
              progress: bool = True) -> list[Path]:
        """Write samples ``start … start+n-1`` into `directory`.

        Args:
            directory: the output folder (created if needed).
            n: number of samples.
            start: first sample index (to extend a data set).
            n_jobs: worker processes (joblib); -1 for all cores.
            progress: show a progress bar.

        The folder's stamp (`stamp`) is written before the first file and every file atomically, so a run
        killed at any point resumes with the files it finished. Existing files are reused only under an
        identical stamp (listed in ``self.reused`` afterwards); files without a stamp are written again.

        Raises:
            DataFileError: the folder holds files of this generator made with other settings (another seed,
                size, version ...), or the path is a file.
            ValueError: `n` or `start` not a non-negative integer.
        """
        import json
        import logging
        import warnings

        from ..errors import DataFileError
        from ..utils import atomic_write_bytes, parallel_map

        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an integer >= 0; received {n!r}")
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
            raise ValueError(f"start must be an integer >= 0; received {start!r}")
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise DataFileError(directory, "output path exists and is not a folder")
        directory.mkdir(parents=True, exist_ok=True)
        indices = range(start, start + n)
        want = self.stamp()
        stamp_path = self.stamp_path(directory)
        have = None
        if stamp_path.exists():
            try:
                have = json.loads(stamp_path.read_text())
            except (OSError, ValueError):
                have = {"unreadable": str(stamp_path)}
        existing = [i for i in indices if (directory / self.filename(i, self.label_for(i))).exists()]
        overwrite = False
        if have is not None and have != want:
            diff = {k: (have.get("options", {}).get(k), v) for k, v in want["options"].items()
                    if have.get("options", {}).get(k) != v}
            if have.get("version") != want["version"]:
                diff["version"] = (have.get("version"), want["version"])
            what = ", ".join(f"{k} {a!r} here, {b!r} asked" for k, (a, b) in diff.items()) or str(have)
            raise DataFileError(directory, f"holds {self.name} files made with other settings (stamp "
                                           f"{stamp_path.name}: {what}); write into another folder, or delete "
                                           "this one first")
        if have is None and existing:
            warnings.warn(f"{directory}: {len(existing)} {self.name} file(s) without a stamp (settings unknown); "
                          "writing them again", stacklevel=2)
            overwrite = True
        elif existing:
            logging.getLogger("solarcnn.synthetic").info("%s: reusing %d existing %s file(s) made with the same "
                                                         "settings", directory, len(existing), self.name)
        # the stamp first: files finished before an interruption are kept by the next run (each is atomic)
        atomic_write_bytes(stamp_path, json.dumps(want, indent=1).encode())
        self._reused = [] if overwrite else [directory / self.filename(i, self.label_for(i)) for i in existing]
        return parallel_map(lambda i: self._write_one(i, directory, overwrite), indices, n_jobs=n_jobs,
                            progress=progress, desc=f"writing {self.name}")
