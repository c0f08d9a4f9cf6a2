"""Losses shared by the tracks (Keras 3, backend-agnostic: ``keras.ops`` only).

Two class-weighted cross-entropies live here, registered under **different** Keras names because they
are different losses (checked: they agree only when the DeepCAM one runs with ``reduction_mode="weighted_mean"``,
and even then they compute it by another route, so merging them would move notebook 05's or 06's numbers):

- `PixelWeightedCrossEntropy` (DeepCAM, ``mlcommons/hpc`` ``train.py`` and ``utils/losses.py``): per-pixel
  sparse cross-entropy on logits (B, H, W, C), class weights w_c = f_c ** (-1/8) with the benchmark's
  hard-coded pixel frequencies f = [background, TC, AR], so w = [1.001730, 2.614611, 1.716420]. The loss is
  the **plain mean** over all pixels of all samples of w[y] * (-log softmax(z)[y]) — not PyTorch's default
  weighted mean, which divides by the sum of the weights. Both are available (``reduction_mode``), and the
  reference's division by its gradient-accumulation count. ``solarcnn.deepcam.losses.WeightedCrossEntropy``.
- `WeightedMeanCrossEntropy` (full-disk flare prediction, Pandey et al. 2023): per-image cross-entropy on
  logits (B, C), always PyTorch's ``NLLLoss(weight=...)`` mean ``sum_i w[y_i] CE_i / sum_i w[y_i]`` over the
  batch (Keras' ``class_weight`` would divide by the batch size); the weights are required.
  ``solarcnn.flare.recipe.WeightedCrossEntropy``.
- `masked_binary_crossentropy` (CIRRUS / WSISEG): binary cross-entropy over the pixels whose target is not
  the ignore value.

Up to 0.1.0 both weighted classes were registered as ``solarcnn>WeightedCrossEntropy``, so loading a saved
model could silently pick the wrong one; they are now ``solarcnn>PixelWeightedCrossEntropy`` and
``solarcnn>WeightedMeanCrossEntropy`` (``tests/test_architecture.py`` checks that no name is registered twice).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

CLASS_FREQUENCIES = (0.986267818390377, 0.0004578708870701058, 0.01327431072255291)
LOSS_POW = -0.125


def frequency_weights(frequencies=CLASS_FREQUENCIES, power: float = LOSS_POW) -> np.ndarray:
    """Class weights ``f ** power`` from pixel frequencies (default: DeepCAM's reference weights, float32, length 3).

    ``solarcnn.deepcam.losses.class_weights`` is this function.
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if np.any(f <= 0):
        raise ValueError(f"class frequencies must be > 0; received {tuple(frequencies)!r}")
    return (f ** power).astype(np.float32)


@keras.saving.register_keras_serializable(package="solarcnn")
class PixelWeightedCrossEntropy(keras.losses.Loss):
    """Per-pixel class-weighted sparse cross-entropy from logits (DeepCAM's loss; see the module docstring).

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
        self.weights = [float(w) for w in (frequency_weights() if weights is None else weights)]
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
        return {"name": self.name, "reduction": self.reduction, "weights": self.weights,
                "reduction_mode": self.reduction_mode, "accumulation_steps": self.accumulation_steps}


def weighted_cross_entropy_np(y_true, logits, weights=None, reduction_mode: str = "mean") -> float:
    """NumPy reference of the loss (for checks and teaching)."""
    w = frequency_weights() if weights is None else np.asarray(weights, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true).astype(np.int64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    wy = w[y]
    return float(np.mean(wy * nll) if reduction_mode == "mean" else np.sum(wy * nll) / np.sum(wy))


@keras.saving.register_keras_serializable(package="solarcnn")
class WeightedMeanCrossEntropy(keras.losses.Loss):
    """Class-weighted softmax cross-entropy on logits, normalised by the sum of the weights (the flare recipe's).

    ``loss = sum_i w[y_i] * CE_i / sum_i w[y_i]`` over the batch, PyTorch's
    ``NLLLoss(weight=...)`` mean. (Keras ``class_weight`` would divide by the batch size.)

    Args:
        weights: per-class weights, ``(w_NF, w_FL)``.
    """

    def __init__(self, weights, name="weighted_cross_entropy", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.weights = [float(w) for w in weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        logp = ops.log_softmax(y_pred, axis=-1)
        onehot = ops.one_hot(y_true, len(self.weights), dtype=logp.dtype)
        nll = -ops.sum(onehot * logp, axis=-1)
        w = ops.take(ops.convert_to_tensor(self.weights, dtype=logp.dtype), y_true)
        return ops.sum(w * nll) / ops.maximum(ops.sum(w), 1e-12)

    def get_config(self):
        return {"weights": self.weights, "name": self.name}


def weighted_mean_loss(per_sample_losses, labels, weights) -> float:
    """NumPy reference of the weighted mean: ``sum w[y] l / sum w[y]``."""
    w = np.asarray(weights, float)[np.asarray(labels, int)]
    return float(np.sum(w * np.asarray(per_sample_losses, float)) / np.sum(w))


def masked_binary_crossentropy(from_logits: bool = False, ignore_value: float = -1.0):
    """A Keras loss: binary cross-entropy averaged over pixels whose target is not `ignore_value`.

    Targets are 1 (cloud), 0 (clear) or `ignore_value` (undefined; left out of the mean). Backend-agnostic
    (``keras.ops`` only). Use with `iou`'s ``valid`` mask for the matching metric.
    """
    def loss(y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        w = ops.cast(ops.not_equal(y_true, ignore_value), y_pred.dtype)
        t = y_true * w
        if from_logits:
            per = ops.maximum(y_pred, 0) - y_pred * t + ops.log1p(ops.exp(-ops.abs(y_pred)))
        else:
            p = ops.clip(y_pred, 1e-7, 1 - 1e-7)
            per = -(t * ops.log(p) + (1 - t) * ops.log(1 - p))
        return ops.sum(per * w) / ops.maximum(ops.sum(w), 1.0)

    loss.__name__ = "masked_bce"
    return loss
