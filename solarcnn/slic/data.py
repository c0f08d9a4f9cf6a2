"""The synthetic SOT-like data set of the Slic track, built on demand.

Notebook 01 builds it and explains every step; notebook 02 calls
`synthetic_slic_data`, which rebuilds whatever is missing (generation and
preparation are both resumable), so either notebook runs on its own.
"""
from __future__ import annotations

from pathlib import Path

from .prep import SlicData, assemble, prepare_directory


def write_synthetic_sot(root, *, n_sequences: int, frames_per_sequence: int = 8, seed: int = 0,
                        missing_block_fraction: float = 0.0, domain_randomisation: bool = False, n_jobs: int = 1,
                        progress: bool = False) -> Path:
    """Write `n_sequences` sequences per class of synthetic SOT frames into ``root/<class>/`` (resumable).

    Args:
        root: output folder; class folders are created inside.
        n_sequences: sequences per class.
        frames_per_sequence: frames in each sequence.
        seed: generator seed.
        missing_block_fraction: fraction of frames with a zero-filled data gap.
        domain_randomisation: the generator's randomised frames (``solarcnn.synthetic.sot``: granulation,
            sunspot variety, pores, seeing, exposure, noise, artefacts) instead of the plain ones.
        n_jobs: worker processes.
    """
    from ..synthetic import get

    if not isinstance(n_sequences, int) or n_sequences < 1:
        raise ValueError(f"n_sequences must be a positive integer; received {n_sequences!r}")
    gen = get("sot", seed=seed, frames_per_sequence=frames_per_sequence,
              missing_block_fraction=missing_block_fraction, domain_randomisation=domain_randomisation)
    n = len(gen.indices(n_sequences))
    gen.write(root, n, n_jobs=n_jobs, progress=progress)
    return Path(root)


def synthetic_slic_data(work, *, n_sequences: int, frames_per_sequence: int = 8, size: int = 256, seed: int = 0,
                        split: str = "grouped", val_fraction: float = 0.2, missing_block_fraction: float = 0.02,
                        n_jobs: int = 1, progress: bool = False, domain_randomisation: bool = False) -> SlicData:
    """Synthetic SOT frames → prepared arrays, building whatever is missing under `work`.

    FITS files go to ``work/sot_fits/``, prepared images to ``work/prepared_<size>/`` (with
    `domain_randomisation`: ``work/sot_fits_randomised/`` and ``work/prepared_<size>_randomised/``, so plain
    and randomised frames never share a folder). Returns the `SlicData` of `assemble` (grouped split by default).

    Args:
        work: the work folder.
        n_sequences: sequences per class.
        frames_per_sequence: frames in each sequence.
        size: side of the prepared images [px].
        seed: generator and split seed.
        split: ``"grouped"`` (whole sequences held out) or ``"faithful"`` (the original's frame-wise split).
        val_fraction: fraction of sequences per class held out (grouped split).
        missing_block_fraction: fraction of frames with a zero-filled data gap.
        n_jobs: worker processes.
        domain_randomisation: randomised frames (see `write_synthetic_sot`); False: the plain frames.
    """
    work = Path(work)
    tag = "_randomised" if domain_randomisation else ""
    src = write_synthetic_sot(work / f"sot_fits{tag}", n_sequences=n_sequences,
                              frames_per_sequence=frames_per_sequence, seed=seed,
                              missing_block_fraction=missing_block_fraction,
                              domain_randomisation=domain_randomisation, n_jobs=n_jobs, progress=progress)
    dst = work / f"prepared_{size}{tag}"
    report = prepare_directory(src, dst, size=size, n_jobs=n_jobs, progress=progress)
    return assemble(src, dst, split=split, val_fraction=val_fraction, seed=seed, report=report)
