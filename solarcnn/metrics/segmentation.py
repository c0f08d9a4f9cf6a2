"""Binary segmentation metrics with an ignore mask (CIRRUS, CloudSegNet, WSISEG).

Introduced in notebook 04. Definitions follow CIRRUS ``evaluate_model`` (``reference/cirrus.md`` §7):
IoU of the **cloud class**, **micro-averaged** over all pixels of all images
(I / (Σy + Σŷ − I + 1e-10), I = Σ y·ŷ), precision Σy·ŷ/(Σŷ + 1e-10), recall Σy·ŷ/(Σy + 1e-10).
Pixels where ``valid`` is False (WSISEG's undefined value 0, outside a fisheye) are left out of every sum.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-10


def _prepare(y_true, y_pred, valid, threshold):
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; received {yt.shape} and {yp.shape}")
    yt_vals = np.unique(yt)
    if not np.isin(yt_vals, (0, 1)).all():
        raise ValueError(f"y_true must be binary (0 = clear, 1 = cloud); received values {yt_vals[:10].tolist()}"
                         " (map WSISEG's 255/100/0 with solarcnn.cirrus.wsiseg.encode_annotation first)")
    if threshold is None:
        vals = np.unique(yp)
        if not np.isin(vals, (0, 1)).all():
            raise ValueError("y_pred holds probabilities; pass threshold=0.5 (or another) to binarise them; "
                             f"received values such as {vals[:5].tolist()}")
        yp_bin = yp.astype(bool)
    else:
        yp_bin = yp > threshold
    yt_bin = yt.astype(bool)
    if valid is None:
        v = np.ones(yt.shape, bool)
    else:
        v = np.asarray(valid).astype(bool)
        if v.shape != yt.shape:
            try:
                v = np.broadcast_to(v, yt.shape)
            except ValueError:
                raise ValueError(f"valid mask of shape {np.asarray(valid).shape} does not match "
                                 f"y_true of shape {yt.shape}") from None
    return yt_bin & v, yp_bin & v, v


def iou(y_true, y_pred, *, valid=None, threshold: float | None = 0.5, per_image: bool = False):
    """Cloud-class intersection over union.

    Args:
        y_true: binary truth (1 = cloud), any shape, e.g. (N, H, W) or (N, H, W, 1).
        y_pred: probabilities (binarised with ``> threshold``) or a binary prediction.
        valid: boolean mask of the pixels that count (broadcastable to `y_true`); None: all.
        threshold: binarisation threshold; None if `y_pred` is already binary.
        per_image: if True, return one IoU per image (first axis) instead of the micro average.

    Returns:
        The micro-averaged IoU (a float), or an array of per-image IoUs.

    Example:
        >>> iou([[1, 1, 1, 1], [0, 0, 0, 1]], [[1, 1, 1, 0], [1, 0, 0, 0]], threshold=None)
        0.5
    """
    yt, yp, _ = _prepare(y_true, y_pred, valid, threshold)
    if per_image:
        axes = tuple(range(1, yt.ndim))
        inter = (yt & yp).sum(axis=axes)
        return inter / (yt.sum(axis=axes) + yp.sum(axis=axes) - inter + EPS)
    inter = float((yt & yp).sum())
    return inter / (float(yt.sum()) + float(yp.sum()) - inter + EPS)


def pixel_scores(y_true, y_pred, *, valid=None, threshold: float | None = 0.5) -> dict:
    """Pixel accuracy, precision, recall, F1 and IoU of the cloud class, micro-averaged over valid pixels.

    Args: as `iou`.

    Returns:
        ``{"accuracy", "precision", "recall", "f1", "iou", "n_pixels"}``.
    """
    yt, yp, v = _prepare(y_true, y_pred, valid, threshold)
    n = int(v.sum())
    tp = float((yt & yp).sum())
    fp = float((yp & ~yt).sum())
    fn = float((yt & ~yp).sum())
    tn = n - tp - fp - fn
    precision = tp / (tp + fp + EPS)
    recall = tp / (tp + fn + EPS)
    return {"accuracy": (tp + tn) / n if n else float("nan"), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall + EPS), "iou": tp / (tp + fp + fn + EPS),
            "n_pixels": n}


def __getattr__(name):
    # Deprecated alias (one release): the loss moved to `solarcnn.training.losses`, a layer above the metrics,
    # which stay NumPy-only. Resolved by name on first use, so importing the metrics never imports Keras.
    if name == "masked_binary_crossentropy":
        import importlib
        import warnings

        warnings.warn("solarcnn.metrics.segmentation.masked_binary_crossentropy moved to "
                      "solarcnn.training.losses.masked_binary_crossentropy", DeprecationWarning, stacklevel=2)
        return importlib.import_module("solarcnn.training.losses").masked_binary_crossentropy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
