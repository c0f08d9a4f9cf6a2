"""Real CIRRUS data: raw 512 x 640 14-bit LWIR FITS frames in the original project's layouts.

- **classification**: ``DATA/clear/*.fits`` and ``DATA/cloudy/*.fits`` (labels from the folder: clear 0,
  cloudy 1, as the CIRRUS notebook's ``clear``/``cloud`` arrays). `CirrusArchive.load_classification`
  rebins them 4 x 4 to 128 x 160 (`rebin_files`) into a work folder and divides **every** frame by 2**14 (the
  corrected normalisation; the original divided only the cloudy ones, see `solarcnn.cirrus.data.load_binned`);
- **segmentation**: ``DATA/*.fits``, a folder of frames; `CirrusArchive.load_segmentation` generates the
  ground-truth masks as the paper does (`generate_masks`: rebin, /2**14, ZScale(0.9), LogStretch(1e5), Otsu)
  into a work folder and reads the ``*_masked.fits`` samples.

The user's folder is only read. Frames are grouped into observing sequences by ``DATE-OBS`` (gap > 5 min
starts a new one) for leakage-safe splits (`solarcnn.cirrus.split`). There is no public bulk download (the
authors' links expired; `solarcnn.data.archive.ASSEMBLE`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.archive import ASSEMBLE, Archive, examples, require_folder
from ..errors import DataFileError, DataLayoutError
from .data import CLASSES

RAW_SHAPE = (512, 640)
BITDEPTH = 14
LAYOUT = ("raw 512x640 14-bit LWIR FITS frames: clear/ and cloudy/ sub-folders (classification) or one folder of "
          "frames (segmentation)")
_FITS = (".fits", ".fits.gz", ".fit", ".fts")


def _fits_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(_FITS)
                  and not p.name.startswith("."))


@dataclass
class CirrusArchive(Archive):
    """A validated CIRRUS folder.

    Attributes:
        task: ``"classification"`` or ``"segmentation"``.
        labels: per file, 0 clear / 1 cloudy (classification; empty for segmentation).
    """

    task: str = "classification"
    labels: list = field(default_factory=list)

    def groups(self, max_gap_minutes: float = 5.0) -> np.ndarray:
        """Observing-sequence ids of the files (from ``DATE-OBS``; file order when a frame has none)."""
        from .split import group_by_time, read_times

        try:
            return group_by_time(read_times(self.files), max_gap_minutes)
        except DataFileError:
            return np.arange(len(self.files))

    def load_classification(self, work, *, n_jobs: int = 1, progress: bool = False):
        """``(X (N, 128, 160, 1) float32 = counts / 2**14, y (N,) int, groups (N,))`` of a classification folder."""
        from ..io.fits import read_image
        from .rebin import rebin_files

        if self.task != "classification":
            raise DataLayoutError(self.root, "is a segmentation folder (frames, no clear/ and cloudy/); use "
                                             "load_segmentation")
        xs = []
        for label in CLASSES:
            members = [f for f, y in zip(self.files, self.labels) if CLASSES[y] == label]
            for p in rebin_files(members, Path(work) / "binned" / label, n_jobs=n_jobs, progress=progress,
                                 overwrite=False):
                xs.append(read_image(p, 0, dtype="float32")[0] / 2 ** BITDEPTH)
        order = [i for label in CLASSES for i, y in enumerate(self.labels) if CLASSES[y] == label]
        x = np.stack(xs)[..., None].astype(np.float32)
        y = np.asarray(self.labels)[order]
        return x, y, self.groups()[order]

    def load_segmentation(self, work, *, n_jobs: int = 1, progress: bool = False):
        """``(X (N, 128, 160) float32 in [0, 1], Y (N, 128, 160) int8 masks, groups (N,))``: masks made as the
        paper does into ``work/masked/``."""
        from .data import load_masked
        from .masks import generate_masks

        if self.task != "segmentation":
            raise DataLayoutError(self.root, "is a classification folder (clear/ and cloudy/); use "
                                             "load_classification")
        masked = generate_masks(self.files, Path(work) / "masked", n_jobs=n_jobs, progress=progress,
                                overwrite=False)
        x, y, _ = load_masked(masked)
        return x, y, self.groups()


def _check_frame(root: Path, path: Path) -> None:
    from ..io.fits import read_image

    try:
        data, _ = read_image(path, 0, dtype=None)
    except DataFileError as exc:
        raise DataLayoutError(root, f"{path.relative_to(root)} is not a readable FITS frame: {exc.problem}") from None
    if data.shape != RAW_SHAPE:
        raise DataLayoutError(root, f"{path.relative_to(root)} has shape {data.shape}; CIRRUS frames are raw "
                                    f"{RAW_SHAPE[0]}x{RAW_SHAPE[1]} (rows x columns) LWIR images")
    finite = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
    if not finite.all():
        raise DataLayoutError(root, f"{path.relative_to(root)} holds {int((~finite).sum())} NaN or inf pixel(s)")
    lo, hi = float(np.min(data)), float(np.max(data))
    if lo < 0 or hi >= 2 ** BITDEPTH:
        raise DataLayoutError(root, f"{path.relative_to(root)} holds values {lo:g}..{hi:g}, outside the camera's "
                                    f"14-bit range 0..{2 ** BITDEPTH - 1} (raw counts, ADU, expected)")


def open_archive(data_dir, *, task: str | None = None, check: str = "first") -> CirrusArchive:
    """Validate a CIRRUS folder and return its `CirrusArchive`.

    Args:
        data_dir: ``clear/`` + ``cloudy/`` folders (classification) or a folder of frames (segmentation).
        task: ``"classification"``, ``"segmentation"`` or None (classification when ``clear/`` or ``cloudy/``
            exists, else segmentation).
        check: ``"first"`` (read the first frame of each folder) or ``"all"`` (every frame) for shape, range
            and NaN.

    Raises:
        DataLayoutError: the folder does not exist, lacks ``clear/`` or ``cloudy/`` or holds no frame there,
            holds no FITS frame (segmentation), or a frame that is not 512x640 14-bit raw counts.
    """
    if task not in (None, "classification", "segmentation"):
        raise ValueError(f"task must be 'classification', 'segmentation' or None; received {task!r}")
    if check not in ("first", "all"):
        raise ValueError(f"check must be 'first' or 'all'; received {check!r}")
    root = require_folder(data_dir, "CIRRUS", LAYOUT + ". " + ASSEMBLE["cirrus"])
    has_split = [c for c in CLASSES if (root / c).is_dir()]
    if task is None:
        task = "classification" if has_split else "segmentation"
    if task == "classification":
        missing = [c for c in CLASSES if c not in has_split]
        if missing:
            raise DataLayoutError(root, f"has no {' and no '.join(m + '/' for m in missing)} folder; classification "
                                        f"needs clear/ and cloudy/ sub-folders of raw FITS frames. "
                                        f"{ASSEMBLE['cirrus']}")
        files, labels = [], []
        for k, c in enumerate(CLASSES):
            members = _fits_in(root / c)
            if not members:
                raise DataLayoutError(root / c, "holds no FITS frame (.fits, .fits.gz); classification needs frames "
                                                "in both clear/ and cloudy/")
            for p in (members if check == "all" else members[:1]):
                _check_frame(root, p)
            files += members
            labels += [k] * len(members)
        arch = CirrusArchive(root=root, files=files, track="cirrus", layout="clear/ and cloudy/ folders of raw frames",
                             task=task, labels=labels)
        arch.details = [f"clear {labels.count(0)}, cloudy {labels.count(1)}"]
        return arch
    files = _fits_in(root)
    if not files:
        subs = sorted(p.name + "/" for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        seen = f" (sub-folders: {examples(subs)})" if subs else ""
        raise DataLayoutError(root, f"holds no FITS frame{seen}; segmentation needs a folder of raw 512x640 frames "
                                    f"(DATA/*.fits). {ASSEMBLE['cirrus']}")
    for p in (files if check == "all" else files[:1]):
        _check_frame(root, p)
    arch = CirrusArchive(root=root, files=files, track="cirrus", layout="a folder of raw frames (segmentation)",
                         task="segmentation")
    arch.details = ["ground-truth masks: generated as the paper does (ZScale 0.9, LogStretch 1e5, Otsu)"]
    return arch
