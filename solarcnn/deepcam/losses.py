"""DeepCAM's weighted cross-entropy (``mlcommons/hpc`` ``train.py`` and ``utils/losses.py``).

Class weights are w_c = f_c ** (-1/8) with the benchmark's hard-coded pixel
frequencies f = [background, TC, AR], so w = [1.001730, 2.614611, 1.716420].
The loss is the **plain mean** over all pixels of all samples of
w[y] * (-log softmax(z)[y]) — not PyTorch's default weighted mean, which
divides by the sum of the weights. Both are available (``reduction_mode``).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

CLASS_FREQUENCIES = (0.986267818390377, 0.0004578708870701058, 0.01327431072255291)
LOSS_POW = -0.125


def class_weights(frequencies=CLASS_FREQUENCIES, power: float = LOSS_POW) -> np.ndarray:
    """The reference class weights ``f ** power`` (float32 array of length 3 by default)."""
    f = np.asarray(frequencies, dtype=np.float64)
    if np.any(f <= 0):
        raise ValueError(f"class frequencies must be > 0; received {tuple(frequencies)!r}")
    return (f ** power).astype(np.float32)


@keras.saving.register_keras_serializable(package="solarcnn")
class WeightedCrossEntropy(keras.losses.Loss):
    """Per-pixel class-weighted sparse cross-entropy from logits.

    Args:
        weights: per-class weights (default: the DeepCAM reference weights).
        reduction_mode: ``"mean"`` (reference: plain mean over batch x H x W) or
            ``"weighted_mean"`` (PyTorch's default: divide by the sum of w[y]).
        accumulation_steps: the reference divides the loss by its gradient-accumulation frequency.
    """

    def __init__(self, weights=None, reduction_mode: str = "mean", accumulation_steps: int = 1,
                 name: str = "weighted_cross_entropy", **kwargs):
        kwargs.setdefault("reduction", "sum_over_batch_size")
        super().__init__(name=name, **kwargs)
        if reduction_mode not in ("mean", "weighted_mean"):
            raise ValueError(f"reduction_mode must be 'mean' or 'weighted_mean'; received {reduction_mode!r}")
        if accumulation_steps < 1:
            raise ValueError(f"accumulation_steps must be >= 1; received {accumulation_steps!r}")
        self.weights = [float(w) for w in (class_weights() if weights is None else weights)]
        self.reduction_mode = reduction_mode
        self.accumulation_steps = int(accumulation_steps)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == len(logits.shape):
            labels = ops.squeeze(labels, -1)
        ce = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        w = ops.take(ops.convert_to_tensor(self.weights, dtype="float32"), labels)
        batch = ops.shape(ce)[0]
        wce = ops.reshape(w * ce, (batch, -1))
        if self.reduction_mode == "mean":
            # one value per sample; Keras' "sum_over_batch_size" then averages them: the plain mean over
            # batch x H x W (every sample has the same number of pixels), also under a distribution strategy
            loss = ops.mean(wce, axis=1)
        else:
            loss = ops.ones((batch,)) * (ops.sum(wce) / ops.sum(w))
        return loss / self.accumulation_steps

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "weights": self.weights, "reduction_mode": self.reduction_mode,
                "accumulation_steps": self.accumulation_steps}


def weighted_cross_entropy_np(y_true, logits, weights=None, reduction_mode: str = "mean") -> float:
    """NumPy reference of the loss (for checks and teaching)."""
    w = class_weights() if weights is None else np.asarray(weights, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true).astype(np.int64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    wy = w[y]
    return float(np.mean(wy * nll) if reduction_mode == "mean" else np.sum(wy * nll) / np.sum(wy))

