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

    def _write_one(self, index: int, directory: Path) -> Path:
        label = self.label_for(index)
        path = directory / self.filename(index, label)
        if path.exists():            # resumable: keep what is already written
            return path
        return self.save(self.sample(index, label), path)

    def write(self, directory: str | os.PathLike, n: int, *, start: int = 0, n_jobs: int = 1,
              progress: bool = True) -> list[Path]:
        """Write samples ``start … start+n-1`` into `directory`.

        Args:
            directory: the output folder (created if needed).
            n: number of samples.
            start: first sample index (to extend a data set).
            n_jobs: worker processes (joblib); -1 for all cores.
            progress: show a progress bar.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0; received {n}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        indices = range(start, start + n)
        from ..utils import parallel_map

        return parallel_map(lambda i: self._write_one(i, directory), indices, n_jobs=n_jobs,
                            progress=progress, desc=f"writing {self.name}")
