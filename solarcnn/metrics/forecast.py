"""Binary forecast skill scores: TSS and HSS2 (flare prediction, notebook 06).

From the 2×2 confusion matrix of a yes/no forecast, with P = TP + FN actual
positives (flares) and N = TN + FP actual negatives:

- True Skill Statistic  ``TSS = TP/(TP + FN) - FP/(FP + TN)``  (recall minus false-alarm rate),
  in [-1, 1]; 0 for a constant or random forecast, whatever the class balance.
- Heidke Skill Score 2  ``HSS2 = 2 (TP·TN - FN·FP) / (P (FN + TN) + (TP + FP) N)``, the
  improvement over a random forecast with the same marginals, in [-1, 1].

**Degenerate matrices** (documented behaviour, tested):

- TSS follows the original (``evaluation.py``): each rate is 0 when its numerator is 0, so
  with no positives (P = 0) the detection rate is 0, with no negatives the false-alarm rate
  is 0. No division by zero can happen. A `RuntimeWarning` says when P or N is 0,
  because TSS then measures only one of its two terms.
- HSS2 has no guard in the original; here a zero denominator (only possible when every
  instance is of one class *and* every prediction agrees with it, or the input is empty)
  returns ``zero_division`` (default 0.0: no skill over chance can be shown) with a
  `RuntimeWarning`. Pass ``zero_division=float("nan")`` to get NaN instead.

``y_pred`` are 0/1 labels. Turn flare probabilities into labels with
`predict_labels` (``p >= 0.5`` is a flare, as in the paper's analysis notebook).
"""
from __future__ import annotations

import warnings

import numpy as np


def _labels(y, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of 0/1 labels; received shape {y.shape}")
    if y.dtype == bool:
        return y.astype(np.int64)
    if y.size and not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise ValueError(f"{what} must hold only 0/1 labels (threshold probabilities with predict_labels first); "
                         f"received values such as {bad.tolist()}")
    return y.astype(np.int64)


def predict_labels(p_flare, threshold: float = 0.5) -> np.ndarray:
    """0/1 labels from flare probabilities: 1 where ``p_flare >= threshold`` (paper: 0.5).

    Raises:
        ValueError: NaN or inf probabilities (never turned into "no flare"), values outside [0, 1], or a
            threshold that is not a number in [0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1]; received {threshold!r}")
    p = np.asarray(p_flare, dtype="float64")
    n_bad = int(p.size - np.count_nonzero(np.isfinite(p)))
    if n_bad:
        where = np.flatnonzero(~np.isfinite(p.reshape(-1)))[:5].tolist()
        raise ValueError(f"p_flare holds {n_bad} NaN or inf value(s) (first at flat index {where}); a model that "
                         "produced them diverged or read bad input, and they must not count as 'no flare'")
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
        raise ValueError(f"p_flare must be probabilities in [0, 1]; received range "
                         f"[{np.nanmin(p):.3g}, {np.nanmax(p):.3g}] (apply softmax to logits first)")
    return (p >= threshold).astype(np.int64)


def confusion_2x2(y_true, y_pred) -> tuple[int, int, int, int]:
    """The 2×2 confusion counts ``(TN, FP, FN, TP)`` (sklearn's ``confusion_matrix(...).ravel()`` order).

    Args:
        y_true: 0/1 true labels (1 = flare).
        y_pred: 0/1 predicted labels.
    """
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length; received {t.shape[0]} and {p.shape[0]}")
    tp = int(np.sum((t == 1) & (p == 1)))
    tn = int(np.sum((t == 0) & (p == 0)))
    fp = int(np.sum((t == 0) & (p == 1)))
    fn = int(np.sum((t == 1) & (p == 0)))
    return tn, fp, fn, tp


def tss_from_counts(tn: int, fp: int, fn: int, tp: int, *, warn: bool = True) -> float:
    """TSS from confusion counts (see the module docstring for degenerate cases)."""
    for k, v in dict(tn=tn, fp=fp, fn=fn, tp=tp).items():
        if v < 0:
            raise ValueError(f"confusion counts must be >= 0; received {k}={v}")
    if warn and (tp + fn == 0 or fp + tn == 0):
        warnings.warn(f"TSS with {'no actual positives' if tp + fn == 0 else 'no actual negatives'} "
                      f"(TN={tn}, FP={fp}, FN={fn}, TP={tp}): the missing rate is taken as 0, as in the original",
                      RuntimeWarning, stacklevel=2)
    detection = tp / (tp + fn) if tp else 0.0
    false_alarm = fp / (fp + tn) if fp else 0.0
    return float(detection - false_alarm)


def hss_from_counts(tn: int, fp: int, fn: int, tp: int, *, zero_division: float = 0.0, warn: bool = True) -> float:
    """HSS2 from confusion counts (see the module docstring for degenerate cases)."""
    for k, v in dict(tn=tn, fp=fp, fn=fn, tp=tp).items():
        if v < 0:
            raise ValueError(f"confusion counts must be >= 0; received {k}={v}")
    pos, neg = tp + fn, tn + fp
    denom = pos * (fn + tn) + (tp + fp) * neg
    if denom == 0:
        if warn:
            warnings.warn(f"HSS2 is undefined for TN={tn}, FP={fp}, FN={fn}, TP={tp} (zero denominator: one class "
                          f"only, predicted perfectly, or no data); returning {zero_division}", RuntimeWarning,
                          stacklevel=2)
        return float(zero_division)
    return float(2.0 * (tp * tn - fn * fp) / denom)


def tss(y_true, y_pred) -> float:
    """True Skill Statistic of 0/1 predictions: recall minus false-alarm rate.

    Args:
        y_true: 0/1 true labels (1 = a >= M1.0 flare in the next 24 h).
        y_pred: 0/1 predicted labels (see `predict_labels`).

    Returns:
        TSS in [-1, 1]. With no actual positives (or negatives) the missing rate is 0 and a
        `RuntimeWarning` is issued (the original's behaviour; never NaN).
    """
    return tss_from_counts(*confusion_2x2(y_true, y_pred))


def hss(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Heidke Skill Score (HSS2) of 0/1 predictions.

    Args:
        y_true: 0/1 true labels.
        y_pred: 0/1 predicted labels.
        zero_division: value returned, with a `RuntimeWarning`, when the denominator is 0.

    Returns:
        HSS2 in [-1, 1].
    """
    return hss_from_counts(*confusion_2x2(y_true, y_pred), zero_division=zero_division)
