"""Real Slic data: a folder of class folders of FITS files, or the original's prepared npz files.

Two layouts (``bionictoucan/Slic`` ``README.md``, ``data.py``):

- **class folders**: ``DATA/<class>/*.fits[.gz]``, one sub-folder per class; labels are the sorted folder names
  (the original's ``sorted(os.listdir(dataset))``: filaments 0, flares 1, prominences 2, quiet 3, sunspots 4
  for the paper's classes) and files are taken in name order. `SlicArchive.load` prepares them with the
  faithful preprocessing (`solarcnn.slic.prep`) into a work folder (the user's folder is only read);
- **prepared npz**: ``DATA/solar_train_data.npz`` and ``DATA/solar_test_data.npz`` (key ``data``: uint8 rows,
  column 0 the label, then the 256x256 image flattened), read by `solarcnn.slic.prep.load_npz`.

There is no public bulk download of the Hinode/SOT training images (`solarcnn.data.archive.ASSEMBLE`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.archive import ASSEMBLE, Archive, examples, require_folder
from ..errors import DataFileError, DataLayoutError
from .prep import SlicData, assemble, is_fits, list_files, load_npz, prepare_directory

PAPER_CLASSES = ("filaments", "flares", "prominences", "quiet", "sunspots")
NPZ_FILES = ("solar_train_data.npz", "solar_test_data.npz")
LAYOUT = ("one sub-folder per class of FITS files (DATA/filaments/*.fits, DATA/flares/, ...), or the original's "
          "solar_train_data.npz and solar_test_data.npz")


@dataclass
class SlicArchive(Archive):
    """A validated Slic folder.

    Attributes:
        classes: the class names in label order (sorted folder names; the paper's five for npz files).
        counts: files per class (class folders) or rows per file (npz).
        kind: ``"folders"`` or ``"npz"``.
    """

    classes: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    kind: str = "folders"

    def load(self, work=None, *, size: int = 256, split: str = "grouped", val_fraction: float = 0.2,
             percent_split: int = 10, seed: int = 0, n_jobs: int = 1, progress: bool = False) -> SlicData:
        """Training-ready arrays: ``SlicData`` (images (N, size, size, 1) float32 in 0...255).

        Class folders are prepared into ``work/prepared_<size>/`` (resumable; `prepare_directory`) and split
        ``"grouped"`` (whole sequences, the package's default) or ``"faithful"`` (every `percent_split`-th file
        per class, the original's). The npz layout is used as it is (its train/test split is the original's;
        `size` must match its images).

        Args:
            work: the work folder for prepared images (needed for class folders).
        """
        if self.kind == "npz":
            x_tr, y_tr = load_npz(self.root / NPZ_FILES[0])
            x_va, y_va = load_npz(self.root / NPZ_FILES[1])
            if x_tr.shape[1] != size:
                raise DataLayoutError(self.root, f"the npz images are {x_tr.shape[1]}x{x_tr.shape[2]}; asked for "
                                                 f"size {size} (the npz layout cannot be resized: use {x_tr.shape[1]})")
            z = np.zeros(0, np.int64)
            return SlicData(x_tr, y_tr, x_va, y_va, list(self.classes), [str(self.root / NPZ_FILES[0])] * len(y_tr),
                            [str(self.root / NPZ_FILES[1])] * len(y_va), np.arange(len(y_tr)) if len(y_tr) else z,
                            np.arange(len(y_tr), len(y_tr) + len(y_va)) if len(y_va) else z)
        if work is None:
            raise ValueError("work must be a folder for the prepared images (class-folder layout); received None")
        dst = Path(work) / f"prepared_{size}"
        report = prepare_directory(self.root, dst, size=size, n_jobs=n_jobs, progress=progress)
        return assemble(self.root, dst, split=split, val_fraction=val_fraction, percent_split=percent_split,
                        seed=seed, report=report)


def open_archive(data_dir) -> SlicArchive:
    """Validate a Slic folder and return its `SlicArchive`.

    Raises:
        DataLayoutError: the folder does not exist, holds neither layout, only one of the npz files, a class
            folder without FITS files, FITS files outside class folders, or an npz file not in the
            original's format (the message names the folder and says how to assemble it).
    """
    root = require_folder(data_dir, "Slic", LAYOUT + ". " + ASSEMBLE["slic"])
    npz = [n for n in NPZ_FILES if (root / n).is_file()]
    if npz:
        if len(npz) == 1:
            other = [n for n in NPZ_FILES if n not in npz][0]
            raise DataLayoutError(root, f"holds {npz[0]} but not {other}; the original's prepared layout is both "
                                        "files (training and validation)")
        counts = {}
        for name in NPZ_FILES:
            try:
                _, y = load_npz(root / name)
            except DataFileError as exc:
                raise DataLayoutError(root, f"{name} is not in the original's layout: {exc.problem}") from None
            bad = np.unique(y[(y < 0) | (y >= len(PAPER_CLASSES))])
            if bad.size:
                raise DataLayoutError(root, f"{name} holds labels {bad.tolist()}; the original's are 0..4 "
                                            f"({', '.join(PAPER_CLASSES)})")
            counts[name] = int(len(y))
        arch = SlicArchive(root=root, files=[root / n for n in NPZ_FILES], track="slic",
                           layout="the original's prepared npz files", classes=list(PAPER_CLASSES), counts=counts,
                           kind="npz")
        arch.details = [f"{n}: {c} rows" for n, c in counts.items()]
        return arch
    loose = sorted(p.name for p in root.iterdir() if p.is_file() and is_fits(p))
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        what = (f"holds {len(loose)} FITS file(s) directly ({examples(loose)}) but no class folders" if loose
                else "holds no class folders and no solar_train_data.npz / solar_test_data.npz")
        raise DataLayoutError(root, f"{what}; expected {LAYOUT}. {ASSEMBLE['slic']}")
    if loose:
        raise DataLayoutError(root, f"holds {len(loose)} FITS file(s) outside the class folders ({examples(loose)}); "
                                    "put each in its class's sub-folder")
    files = list_files(root, warn=False)
    counts = {c: sum(1 for cc, _ in files if cc == c) for c in classes}
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise DataLayoutError(root, f"class folder(s) {', '.join(e + '/' for e in empty)} hold no FITS file "
                                    "(.fits, .fits.gz, .fit, .fts); every class needs at least one image")
    if len(classes) < 2:
        raise DataLayoutError(root, f"has one class folder ({classes[0]}/); classification needs at least two")
    from .prep import read_frame

    for c in classes:                              # the first file of each class must be a 2-D FITS image
        first = next(p for cc, p in files if cc == c)
        try:
            read_frame(first)
        except DataFileError as exc:
            raise DataLayoutError(root, f"{first.relative_to(root)} is not a readable 2-D FITS image: "
                                        f"{exc.problem}") from None
    arch = SlicArchive(root=root, files=[p for _, p in files], track="slic", layout="class folders of FITS files",
                       classes=classes, counts=counts, kind="folders")
    paper = "the paper's five classes" if tuple(classes) == PAPER_CLASSES else \
        f"not the paper's five ({', '.join(PAPER_CLASSES)})"
    arch.details = ["classes (label order): " + ", ".join(f"{i} {c} ({counts[c]})" for i, c in enumerate(classes)),
                    paper]
    return arch
