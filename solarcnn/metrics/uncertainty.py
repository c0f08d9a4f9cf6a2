"""Uncertainty of a headline number: bootstrap intervals over test samples, spread over seeds.

The course's test sets are small (15 WSISEG images, 16 DeepCAM samples, a few Slic or CIRRUS
sequences), so a score without an interval says little. Two tools:

- `bootstrap_ci`: resample the test set with replacement (whole groups at a time when the samples
  come in correlated groups, e.g. frames of one sequence), recompute the metric, and take the
  percentile interval of the resampled scores.
- `seed_interval`: the mean and a t-interval of one score measured over several seeds.

Both return plain floats so that ``solarcnn.record(name, value, ci=(low, high))`` can store them.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

__all__ = ["bootstrap_ci", "seed_interval"]


def bootstrap_ci(metric: Callable, y_true, y_pred, *, groups=None, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """``(value, low, high)``: the metric on the whole set and its percentile bootstrap interval.

    Args:
        metric: ``metric(y_true, y_pred) -> float`` on NumPy arrays (samples along axis 0).
        y_true: the true labels or masks, samples along axis 0.
        y_pred: the predictions (labels, probabilities or masks), same number of samples.
        groups: optional group id per sample (e.g. the sequence a frame belongs to). Groups are
            resampled whole (a cluster bootstrap), because frames of one sequence are not independent.
        n_boot: bootstrap replicates (>= 100).
        level: the interval's coverage, in (0, 1).
        seed: seed of the resampling (the interval is repeatable).

    Replicates on which the metric is undefined (it raises or returns NaN, e.g. a resample with one
    class only) are dropped. Too small a test set is reported, not fatal (a user's own small folder must
    still run the lesson): with fewer than 2 groups the samples are resampled one by one, with a
    `RuntimeWarning` that the interval ignores their correlation and is too narrow; when the metric is
    undefined on more than half of the resamples the interval is ``(nan, nan)``, with a `RuntimeWarning`.
    """
    import warnings

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"bootstrap_ci: y_true has {len(y_true)} samples, y_pred {len(y_pred)}")
    if len(y_true) < 2:
        raise ValueError(f"bootstrap_ci needs at least 2 samples; received {len(y_true)}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1); received {level!r}")
    if int(n_boot) < 100:
        raise ValueError(f"bootstrap_ci: n_boot must be >= 100; received {n_boot!r}")
    value = float(metric(y_true, y_pred))
    rng = np.random.default_rng(seed)
    if groups is None:
        members = [np.array([i]) for i in range(len(y_true))]
    else:
        groups = np.asarray(groups)
        if len(groups) != len(y_true):
            raise ValueError(f"bootstrap_ci: groups has {len(groups)} entries for {len(y_true)} samples")
        members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        if len(members) < 2:
            warnings.warn("bootstrap_ci: all samples are in one group; resampling single samples instead, so "
                          "the interval ignores their correlation and is too narrow", RuntimeWarning, stacklevel=2)
            members = [np.array([i]) for i in range(len(y_true))]
    scores = []
    for _ in range(int(n_boot)):
        pick = rng.integers(0, len(members), len(members))
        idx = np.concatenate([members[k] for k in pick])
        try:
            s = float(metric(y_true[idx], y_pred[idx]))
        except (ValueError, ZeroDivisionError, FloatingPointError):
            continue
        if math.isfinite(s):
            scores.append(s)
    if len(scores) < int(n_boot) / 2:
        warnings.warn(f"bootstrap_ci: the metric was undefined on {int(n_boot) - len(scores)} of {n_boot} "
                      "resamples; the test set is too small or too unbalanced for a bootstrap: no interval "
                      "(nan, nan)", RuntimeWarning, stacklevel=2)
        return value, float("nan"), float("nan")
    alpha = (1 - level) / 2
    low, high = np.quantile(scores, [alpha, 1 - alpha])
    return value, float(low), float(high)


def seed_interval(values: Sequence[float], *, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of a score over seeds (or folds) and its Student-t interval.

    Args:
        values: the score of each run (at least 2).
        level: the interval's coverage, in (0, 1).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError(f"seed_interval needs at least 2 values; received {values!r}")
    if not 0 < level < 1:
        raise ValueError(f"seed_interval: level must be in (0, 1); received {level!r}")
    from scipy import stats

    mean, sem = float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * sem
    return mean, mean - half, mean + half
