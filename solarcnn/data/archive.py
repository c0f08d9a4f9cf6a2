"""The common interface of the real-data readers: a folder in an original project's layout.

Each track has ``<track>/archive.py`` with ``open_archive(data_dir, ...)``, which validates the folder up front
(one `solarcnn.errors.DataLayoutError` naming the folder and what is missing or wrong) and returns an
`Archive` subclass holding what the track's loaders need. Every archive has:

- ``files``: the data files it found (absolute paths, sorted);
- ``source``: the folder's absolute path (recorded by the notebooks as ``data_source``);
- ``describe()``: a few lines saying what the folder holds, for the notebook's first output.

`ASSEMBLE` holds, for the tracks whose data have no public bulk download (Slic, CIRRUS), how to assemble the
folder; their readers' errors and ``solarcnn archive`` print it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataLayoutError

ASSEMBLE = {
    "slic": (
        "Slic has no public bulk download (the Hinode/SOT archive at https://sdc.uio.no/sdc/ and JAXA's DARTS "
        "need queries per observation, and no copy of the original's prepared npz files is known). Assemble the "
        "folder yourself: one sub-folder per class holding FITS files (.fits or .fits.gz), e.g. "
        "DATA/filaments/, DATA/flares/, DATA/prominences/, DATA/quiet/, DATA/sunspots/ (labels are the sorted "
        "folder names, as the original data.py reads them), or put the original's prepared "
        "solar_train_data.npz and solar_test_data.npz in DATA/."),
    "cirrus": (
        "CIRRUS has no public bulk download (the authors' RENATER filesender links have expired). Assemble the "
        "folder yourself from raw 512x640 14-bit LWIR FITS frames: for classification DATA/clear/ and "
        "DATA/cloudy/; for segmentation one folder of (cloudy) frames, DATA/*.fits, whose ground-truth masks the "
        "package generates as the paper does (rebin 4x4, /2**14, ZScale, LogStretch, Otsu)."),
}


def require_folder(root, track: str, layout: str) -> Path:
    """`root` as an absolute `Path`, or a `DataLayoutError` when it is not an existing folder.

    Args:
        root: the user's ``data_dir``.
        track: the track's name (for the message).
        layout: one line describing the expected layout.
    """
    if root is None:
        raise DataLayoutError("data_dir", f"no folder given; the {track} reader needs {layout}")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataLayoutError(path, f"folder not found; the {track} reader needs {layout}")
    if not path.is_dir():
        raise DataLayoutError(path, f"is a file, not a folder; the {track} reader needs {layout}")
    return path.resolve()


def examples(paths, root=None, k: int = 3) -> str:
    """Up to `k` names of `paths` (relative to `root` when given), for messages."""
    paths = list(paths)
    names = [os.path.relpath(p, root) if root is not None else str(p) for p in paths[:k]]
    more = f" and {len(paths) - k} more" if len(paths) > k else ""
    return ", ".join(names) + more


@dataclass
class Archive:
    """A validated data folder in an original project's layout.

    Attributes:
        root: the folder (absolute).
        files: its data files (absolute, sorted).
        track: ``"slic"``, ``"cirrus"``, ``"deepcam"`` or ``"flare"``.
        layout: the layout found, in words (e.g. ``"class folders of FITS files"``).
        details: extra lines for `describe`.
    """

    root: Path
    files: list
    track: str
    layout: str
    details: list = field(default_factory=list)

    @property
    def source(self) -> str:
        """The folder's absolute path (what the notebooks record as ``data_source``)."""
        return str(self.root)

    def __len__(self) -> int:
        return len(self.files)

    def describe(self) -> str:
        """What the folder holds, in a few lines."""
        lines = [f"{self.track} data: {self.source}", f"  layout: {self.layout}", f"  files: {len(self.files)}"]
        return "\n".join(lines + [f"  {d}" for d in self.details])


def announce_source(archive: Archive | None = None, *, synthetic: str = "", n_files: int | None = None,
                    record: bool = True) -> str:
    """Say (print, and record with `solarcnn.record` as ``data_source`` and ``data_files``) where a notebook's
    data come from: the user's folder (`archive`) or the package's synthetic generator.

    Args:
        archive: the validated folder, or None for the profile's default (synthetic) source.
        synthetic: what the synthetic source is, in a few words (when `archive` is None).
        n_files: the number of synthetic files (when `archive` is None).
        record: also record the two values.

    Returns:
        The line printed.
    """
    from ..results import record as record_metric

    if archive is not None:
        source, files = archive.source, len(archive.files)
        line = f"Data source: {source} (data_dir: {files} files, {archive.layout})"
        description = f"the user's {archive.track} folder"
    else:
        source, files = "synthetic", int(n_files or 0)
        line = f"Data source: synthetic ({synthetic or 'the package generator'}; {files} files). " \
               "Set data_dir to a folder in the original project's layout to use real data"
        description = synthetic or "the package's synthetic generator"
    print(line)
    if record:
        record_metric("data_source", source, description=description, verbose=False)
        record_metric("data_files", files, description="files in the data source", verbose=False)
    return line


def require_synthetic(data_dir, notebook: str, *, track: str, instead: str) -> None:
    """Stop a notebook that does not read real data yet when `data_dir` is set (never ignore it silently).

    Args:
        data_dir: the notebook's ``data_dir`` setting ("" or None: the synthetic default, accepted).
        notebook: the notebook's name, for the message.
        track: the reader's track (``solarcnn archive check TRACK FOLDER`` validates such a folder).
        instead: where real data of this track can be used instead.

    Raises:
        ParameterError: `data_dir` is set.
    """
    from ..errors import ParameterError

    if data_dir:
        raise ParameterError(f"{notebook}: data_dir={str(data_dir)!r}: this notebook runs on its synthetic data only "
                             f"(its steps use the simulation's own labels and truth). Check the folder with "
                             f"'solarcnn archive check {track} {data_dir}'; {instead}")


DOWNLOAD = "download:"


def download_spec(data_dir, name: str, n_args: tuple[int, int]) -> list[str] | None:
    """The arguments of a ``data_dir`` that names a public download (``"download:NAME:ARG:..."``, the ``full``
    profile's default where the paper's data are public), or None when `data_dir` is a folder (or empty).

    Args:
        data_dir: the notebook's ``data_dir``.
        name: the download this notebook knows (``"hmi"``, ``"climseg"``).
        n_args: the least and most arguments after the name.

    Raises:
        ParameterError: another download name, or the wrong number of arguments.
    """
    from ..errors import ParameterError

    if not isinstance(data_dir, str) or not data_dir.startswith(DOWNLOAD):
        return None
    parts = data_dir[len(DOWNLOAD):].split(":")
    if parts[0] != name or not n_args[0] <= len(parts) - 1 <= n_args[1]:
        raise ParameterError(f"data_dir={data_dir!r}: this notebook downloads only {DOWNLOAD}{name} with "
                             f"{n_args[0]}..{n_args[1]} ':'-separated arguments; or give a folder")
    return parts[1:]


def download_failed(spec: str, exc: Exception, command: str) -> Exception:
    """The error a notebook raises when its profile's download fails (offline, server down): what failed, and
    how to go on without the network (download elsewhere, then set ``data_dir`` to that folder)."""
    from ..errors import DataFileError

    where = getattr(exc, "path", spec)
    problem = getattr(exc, "problem", f"{type(exc).__name__}: {exc}")
    return DataFileError(where, f"{problem}. The profile's data_dir={spec!r} downloads the paper's public data "
                                f"(resumable: run again to continue). Offline? Download it where there is a network "
                                f"('{command}'), then set data_dir to that folder (-p data_dir FOLDER), or run the "
                                f"tiny profile (synthetic data)")
