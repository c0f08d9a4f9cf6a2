"""The synthetic SOT-like data set of the Slic track, built on demand.

Notebook 01 builds it and explains every step; notebook 02 calls
`synthetic_slic_data`, which rebuilds whatever is missing (generation and
preparation are both resumable), so either notebook runs on its own.
"""
from __future__ import annotations

from pathlib import Path

from .prep import SlicData, assemble, prepare_directory


def write_synthetic_sot(root, *, n_sequences: int, frames_per_sequence: int = 8, seed: int = 0,
                        missing_block_fraction: float = 0.0, n_jobs: int = 1, progress: bool = False) -> Path:
    """Write `n_sequences` sequences per class of synthetic SOT frames into ``root/<class>/`` (resumable).

    Args:
        root: output folder; class folders are created inside.
        n_sequences: sequences per class.
        frames_per_sequence: frames in each sequence.
        seed: generator seed.
        missing_block_fraction: fraction of frames with a zero-filled data gap.
        n_jobs: worker processes.
    """
    from ..synthetic import get

    if not isinstance(n_sequences, int) or n_sequences < 1:
        raise ValueError(f"n_sequences must be a positive integer; received {n_sequences!r}")
    gen = get("sot", seed=seed, frames_per_sequence=frames_per_sequence,
              missing_block_fraction=missing_block_fraction)
    n = len(gen.indices(n_sequences))
    gen.write(root, n, n_jobs=n_jobs, progress=progress)
    return Path(root)


def synthetic_slic_data(work, *, n_sequences: int, frames_per_sequence: int = 8, size: int = 256, seed: int = 0,
                        split: str = "grouped", val_fraction: float = 0.2, missing_block_fraction: float = 0.02,
                        n_jobs: int = 1, progress: bool = False) -> SlicData:
    """Synthetic SOT frames → prepared arrays, building whatever is missing under `work`.

    FITS files go to ``work/sot_fits/``, prepared images to ``work/prepared_<size>/``.
    Returns the `SlicData` of `assemble` (grouped split by default).
    """
    work = Path(work)
    src = write_synthetic_sot(work / "sot_fits", n_sequences=n_sequences, frames_per_sequence=frames_per_sequence,
                              seed=seed, missing_block_fraction=missing_block_fraction, n_jobs=n_jobs,
                              progress=progress)
    dst = work / f"prepared_{size}"
    report = prepare_directory(src, dst, size=size, n_jobs=n_jobs, progress=progress)
    return assemble(src, dst, split=split, val_fraction=val_fraction, seed=seed, report=report)
