"""The DeepCAM IoU ("eval_accuracy" of MLPerf HPC), exactly as the benchmark defines it.

Introduced in notebook 05. For every **sample** b and class j the benchmark
counts TP, FP and FN pixels and scores IoU_bj = TP / (TP + FP + FN); a class
that is absent from both the label and the prediction (TP + FP + FN = 0)
scores **1**. A sample's score is the mean over the classes, and the reported
number is the mean over samples (``mlcommons/hpc`` ``utils/metric.py``; the
older v0.7 code pooled the pixels of a whole batch instead, available here as
``per_sample=False``). Target: 0.82 on the validation set.
"""
from __future__ import annotations

import numpy as np

TARGET_IOU = 0.82
CLASS_NAMES = ("background", "tropical cyclone", "atmospheric river")


def _as_labels(y_pred, num_classes: int, what: str = "y_pred") -> np.ndarray:
    y_pred = np.asarray(y_pred)
    if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
        n_bad = int(y_pred.size - np.count_nonzero(np.isfinite(y_pred)))
        raise ValueError(f"{what} holds {n_bad} NaN or inf value(s): the model diverged or read bad input; an "
                         "argmax of them would be a silent 'background'")
    if y_pred.ndim >= 2 and y_pred.shape[-1] == num_classes and np.issubdtype(y_pred.dtype, np.floating):
        return np.argmax(y_pred, axis=-1)      # logits or probabilities (argmax of softmax = argmax of logits)
    return y_pred.astype(np.int64)


def deepcam_iou_per_class(y_true, y_pred, num_classes: int = 3, *, per_sample: bool = True) -> np.ndarray:
    """Per-class IoU with the absent-class rule.

    Args:
        y_true: integer labels, shape ``(batch, H, W)`` (or ``(H, W)`` for one sample).
        y_pred: integer predictions of the same shape, or logits/probabilities ``(..., num_classes)``.
        num_classes: number of classes (3).
        per_sample: True (the v1.0 benchmark): shape ``(batch, num_classes)``; False (v0.7): pixels of
            the whole batch pooled, shape ``(num_classes,)``.
    """
    y_true = np.asarray(y_true)
    if np.issubdtype(y_true.dtype, np.floating) and not np.isfinite(y_true).all():
        raise ValueError(f"y_true holds {int(y_true.size - np.count_nonzero(np.isfinite(y_true)))} NaN or inf "
                         "value(s); labels must be the classes 0..num_classes-1")
    y_true = y_true.astype(np.int64)
    y_pred = _as_labels(y_pred, num_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"labels and predictions must have the same shape; received {y_true.shape} and "
                         f"{y_pred.shape}")
    if y_true.ndim == 2:
        y_true, y_pred = y_true[None], y_pred[None]
    if y_true.ndim != 3:
        raise ValueError(f"labels must have shape (batch, H, W) or (H, W); received {y_true.shape}")
    if not per_sample:
        y_true, y_pred = y_true.reshape(1, -1), y_pred.reshape(1, -1)
    flat_t = y_true.reshape(len(y_true), -1)
    flat_p = y_pred.reshape(len(y_pred), -1)
    out = np.empty((len(flat_t), num_classes))
    for j in range(num_classes):
        t, p = flat_t == j, flat_p == j
        tp = np.sum(t & p, axis=1)
        union = np.sum(t | p, axis=1)          # TP + FP + FN
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(union == 0, 1.0, tp / np.maximum(union, 1))
    return out[0] if not per_sample else out


def deepcam_iou(y_true, y_pred, num_classes: int = 3, *, per_sample: bool = True) -> float:
    """Mean over samples of the per-sample mean-over-classes IoU (the MLPerf HPC DeepCAM metric).

    Args:
        y_true: integer labels ``(batch, H, W)`` or ``(H, W)``.
        y_pred: integer predictions, or logits ``(..., num_classes)`` (argmax is taken).
        num_classes: 3 for DeepCAM.
        per_sample: False gives the v0.7 batch-pooled variant.

    Example: labels [0, 0, 1, 2], predictions [0, 1, 1, 0] -> classes [1/3, 1/2, 0] -> 0.277778.
    """
    return float(np.mean(deepcam_iou_per_class(y_true, y_pred, num_classes, per_sample=per_sample)))


def all_background_iou(y_true, num_classes: int = 3) -> float:
    """The score of a model that predicts background everywhere: the baseline to beat."""
    y_true = np.asarray(y_true)
    return deepcam_iou(y_true, np.zeros_like(y_true, dtype=np.int64), num_classes)


def _keras_metric():
    import keras
    from keras import ops

    class DeepCAMIoU(keras.metrics.Metric):
        """Streaming DeepCAM IoU for `model.fit`/`evaluate` (per-sample, absent class = 1), from logits."""

        def __init__(self, num_classes: int = 3, name: str = "iou", **kwargs):
            super().__init__(name=name, **kwargs)
            self.num_classes = num_classes
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = ops.cast(ops.reshape(y_true, (ops.shape(y_pred)[0], -1)), "int32")
            pred = ops.cast(ops.reshape(ops.argmax(y_pred, axis=-1), (ops.shape(y_pred)[0], -1)), "int32")
            scores = []
            for j in range(self.num_classes):
                t = ops.equal(y_true, j)
                p = ops.equal(pred, j)
                tp = ops.sum(ops.cast(ops.logical_and(t, p), "float32"), axis=1)
                union = ops.sum(ops.cast(ops.logical_or(t, p), "float32"), axis=1)
                scores.append(ops.where(union > 0, tp / ops.maximum(union, 1.0), 1.0))
            per_sample = ops.mean(ops.stack(scores, axis=1), axis=1)
            self.total.assign_add(ops.sum(per_sample))
            self.count.assign_add(ops.cast(ops.shape(per_sample)[0], "float32"))

        def result(self):
            return self.total / ops.maximum(self.count, 1.0)

        def reset_state(self):
            self.total.assign(0.0)
            self.count.assign(0.0)

        def get_config(self):
            return {**super().get_config(), "num_classes": self.num_classes}

    return DeepCAMIoU


def __getattr__(name):
    if name == "DeepCAMIoU":   # built lazily so that importing this module does not import Keras
        cls = _keras_metric()
        globals()["DeepCAMIoU"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
