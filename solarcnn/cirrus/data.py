"""The synthetic LWIR data set of notebooks 03, 04 and 07, built in a work folder when missing.

Layout under ``root``: ``raw/`` (512 × 640 camera frames, ``*_flux.fits``), ``binned/`` (128 × 160,
``*_binned.fits``), ``masked/`` (binned image + int8 ground-truth HDU1, cloudy frames only).
Each stage is skipped for files that already exist, so notebooks can share the folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from .masks import generate_masks
from .rebin import rebin_files

CLASSES = ("clear", "cloudy")


def build_synthetic(root, *, n_frames: int, seed: int = 0, sequence_length: int = 10, labels: str = "alternate",
                    n_jobs: int = 1, progress: bool = False, masks: bool = True,
                    difficulty: str = "standard") -> dict:
    """Write (or complete) the synthetic data set; return ``{"raw": [...], "binned": [...], "masked": [...]}``.

    The folder holds a stamp (``dataset.json``: generator, physics version, seed, sequence length, labels).
    When the stamp matches, existing files are kept and only missing ones are made, so notebooks 03, 04 and 07
    share one folder; when it does not (other settings, or frames of an older generator version), every file
    is written again, so stale frames or masks are never mixed with new ones. The stamp is written before the
    first file and every file atomically, so a run killed at any point (kill -9 included) resumes with the
    files it finished.

    Args:
        root: output folder.
        n_frames: number of camera frames (sequences of `sequence_length` one-minute frames).
        seed: generator seed (fixes the camera and every frame).
        labels: ``"alternate"`` (clear and cloudy sequences), ``"cloudy"`` or ``"clear"``.
        n_jobs: parallel workers: processes for writing and masks, threads for rebinning.
        masks: also make ground-truth masks of the cloudy frames.
        difficulty: the generator's ``difficulty``: ``"standard"`` (notebooks 04 and 07) or ``"hard"`` (notebook
            03: thin cirrus, haze, artefacts; `solarcnn.synthetic.allsky`). It is part of the stamp, so give
            each difficulty its own folder (a folder of the other one is written again).
    """
    import json

    from ..synthetic import get
    from ..synthetic.allsky import VERSION
    from ..utils import parallel_map

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    gen = get("allsky_ir", seed=seed, sequence_length=sequence_length, labels=labels, difficulty=difficulty)
    stamp = {"generator": gen.name, "version": VERSION, "seed": int(seed), "sequence_length": int(sequence_length),
             "labels": labels, "options": gen.stamp()["options"]}
    stamp_path = root / "dataset.json"
    try:
        fresh = json.loads(stamp_path.read_text()) == stamp
    except (OSError, ValueError):
        fresh = False
    if not fresh:   # other settings or an older generator: drop every frame this function wrote before
        stamp_path.unlink(missing_ok=True)
        for sub in ("raw", "binned", "masked"):
            for old in (root / sub).glob("lwir_*.fits"):
                old.unlink()
    else:
        import logging

        logging.getLogger("solarcnn.cirrus").info("%s: stamp matches; keeping the files already made", root)
    # The stamp is written before the first frame (and every frame, binned frame and mask is written
    # atomically), so a run killed at any point resumes with every file it finished.
    if not fresh:
        from ..utils import atomic_write_bytes

        atomic_write_bytes(stamp_path, json.dumps(stamp).encode())
    raw_dir = root / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    raw = [raw_dir / gen.filename(i) for i in range(int(n_frames))]
    todo = [i for i, p in enumerate(raw) if not p.exists()]
    if todo:
        raw_s = os.fspath(raw_dir)
        parallel_map(lambda i: gen._write_one(i, Path(raw_s)), todo, n_jobs=n_jobs, progress=progress,
                     desc=f"writing {gen.name}")
    binned = rebin_files(raw, root / "binned", n_jobs=n_jobs, progress=progress, overwrite=False)
    out = {"raw": raw, "binned": [Path(p) for p in binned], "masked": [], "generator": gen}
    if masks:
        cloudy = [p for i, p in enumerate(raw) if gen.label_for(i) == "cloudy"]
        out["masked"] = [Path(p) for p in generate_masks(cloudy, root / "masked", n_jobs=n_jobs, progress=progress,
                                                         overwrite=False)]
    return out


def load_binned(paths, *, normalize_clear: bool = True, bitdepth: int = 14):
    """Load binned frames for classification: (X (N, H, W, 1) float32, y (N,) int, sequence ids (N,)).

    The label comes from the header keyword ``SKYCOND`` (0 = clear, 1 = cloudy).

    Args:
        normalize_clear: True (corrected, default) divides **every** frame by 2**bitdepth. False reproduces
            the CIRRUS notebook's bug: only cloudy frames are divided, clear ones keep raw counts, and the
            classes differ trivially in scale.

    Raises:
        DataFileError: missing ``SKYCOND``/unknown value, NaN or inf pixels, or frames of different shapes.
    """
    from ..io.fits import read_image

    xs, ys, seqs = [], [], []
    shape = None
    for p in paths:
        data, hdr = read_image(p, 0, dtype="float32")
        cond = str(hdr.get("SKYCOND", "")).strip().lower()
        if cond not in CLASSES:
            raise DataFileError(p, f"header SKYCOND is {hdr.get('SKYCOND')!r}; expected 'CLEAR' or 'CLOUDY'")
        if not np.isfinite(data).all():
            raise DataFileError(p, f"frame holds {int(data.size - np.count_nonzero(np.isfinite(data)))} NaN or inf "
                                   "pixel(s); it cannot be used for training")
        if shape is None:
            shape = data.shape
        elif data.shape != shape:
            raise DataFileError(p, f"frame has shape {data.shape}, the others {shape}")
        label = CLASSES.index(cond)
        if normalize_clear or label == 1:
            data = data / 2 ** bitdepth
        xs.append(data)
        ys.append(label)
        seqs.append(int(hdr.get("SEQID", -1)))
    return np.stack(xs)[..., None].astype(np.float32), np.array(ys), np.array(seqs)


def load_masked(paths):
    """Load ``*_masked.fits`` samples: (X (N, H, W) float32 in [0, 1], Y (N, H, W) int8, sequence ids)."""
    from ..io.fits import read_image
    from .masks import read_masked

    xs, ys, seqs = [], [], []
    for p in paths:
        x, y = read_masked(p)
        xs.append(x)
        ys.append(y)
        seqs.append(int(read_image(p, 0, dtype=None)[1].get("SEQID", -1)))
    return np.stack(xs), np.stack(ys), np.array(seqs)


def true_masks(generator, paths, shape=(128, 160)) -> np.ndarray:
    """The simulation's physical cloud masks of the frames in `paths` (from their ``GENINDEX`` header),
    block-reduced to `shape` (cloud when at least half the block is cloud)."""
    from ..io.fits import read_image
    from .rebin import rebin

    out = []
    for p in paths:
        hdr = read_image(p, 0, dtype=None)[1]
        if "GENINDEX" not in hdr:
            raise DataFileError(p, "header has no GENINDEX; not a file of the allsky_ir generator")
        s = generator.sample(int(hdr["GENINDEX"]))
        out.append(rebin(s.extra["cloud_truth"].astype(np.float32), shape) >= 0.5)
    return np.stack(out).astype(np.int8)
