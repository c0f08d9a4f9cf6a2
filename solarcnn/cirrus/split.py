"""Leakage-safe splits of time-ordered frames (``reference/cirrus.md`` §8). Introduced in notebook 04.

CIRRUS drew its file list with ``random.choices(files, k=len(files))`` before ``train_test_split``:
sampling **with replacement**, so about 1/e ≈ 37 % of the files never appear and duplicates land on both
sides. Frames a minute apart are near-duplicates too. Here frames are grouped into sequences (by a time gap
or a sequence id), groups are shuffled with a seeded permutation (no replacement) and assigned whole.
"""
from __future__ import annotations

import datetime as _dt
import random

import numpy as np

from ..errors import DataFileError


def faithful_resample(items, seed: int = 42) -> list:
    """The original's draw: ``random.choices(items, k=len(items))`` (with replacement). For demonstration only."""
    r = random.Random(seed)
    return r.choices(list(items), k=len(items))


def read_times(paths) -> list[_dt.datetime]:
    """``DATE-OBS`` of each FITS file (HDU0), as datetimes.

    Raises:
        DataFileError: missing or unparsable ``DATE-OBS``.
    """
    from ..io.fits import read_hdus

    out = []
    for p in paths:
        value = read_hdus(p, max_hdus=1)[0][1].get("DATE-OBS")
        if value is None:
            raise DataFileError(p, "header has no DATE-OBS keyword; cannot group frames in time")
        try:
            out.append(_dt.datetime.fromisoformat(str(value).rstrip("Z")))
        except ValueError:
            raise DataFileError(p, f"DATE-OBS {value!r} is not an ISO date-time") from None
    return out


def group_by_time(times, max_gap_minutes: float = 5.0) -> np.ndarray:
    """Group ids: frames closer than `max_gap_minutes` to the previous frame (in time order) share a group."""
    times = list(times)
    if not times:
        return np.zeros(0, int)
    order = sorted(range(len(times)), key=lambda i: times[i])
    groups = np.empty(len(times), int)
    g = 0
    groups[order[0]] = 0
    for prev, cur in zip(order[:-1], order[1:]):
        if (times[cur] - times[prev]).total_seconds() > 60.0 * max_gap_minutes:
            g += 1
        groups[cur] = g
    return groups


def split_groups(items, groups, fractions=(0.8, 0.2), *, seed: int = 42) -> list[list]:
    """Split `items` into len(`fractions`) disjoint lists, keeping each group on one side.

    Groups are put in a seeded random order (a permutation: no replacement) and filled into the splits
    so that each split's share of *items* is as close as possible to its fraction.

    Raises:
        ValueError: duplicate items, mismatched lengths, bad fractions, or fewer groups than splits.
    """
    items = list(items)
    groups = np.asarray(groups)
    if len(items) != len(groups):
        raise ValueError(f"items and groups must have the same length; received {len(items)} and {len(groups)}")
    if len(set(map(str, items))) != len(items):
        raise ValueError("items contain duplicates; a split without replacement needs unique items")
    fr = np.asarray(fractions, float)
    if fr.ndim != 1 or len(fr) < 2 or (fr <= 0).any() or abs(fr.sum() - 1) > 1e-6:
        raise ValueError(f"fractions must be >= 2 positive numbers summing to 1; received {fractions!r}")
    uniq = np.unique(groups)
    if len(uniq) < len(fr):
        raise ValueError(f"need at least {len(fr)} groups to make {len(fr)} splits; received {len(uniq)}")
    perm = np.random.default_rng(seed).permutation(uniq)
    sizes = {g: int((groups == g).sum()) for g in uniq}
    target = fr * len(items)
    counts = np.zeros(len(fr))
    assign = {}
    # every split gets one group first, then each group goes where the deficit is largest
    for k, g in enumerate(perm[:len(fr)]):
        assign[g] = k
        counts[k] += sizes[g]
    for g in perm[len(fr):]:
        k = int(np.argmax(target - counts))
        assign[g] = k
        counts[k] += sizes[g]
    return [[it for it, g in zip(items, groups) if assign[g] == k] for k in range(len(fr))]
