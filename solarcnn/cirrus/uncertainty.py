"""Probabilistic segmentation: Monte-Carlo dropout predictive maps. Notebook 04.

The U-Net's sigmoid output is a per-pixel probability, but one network's probability says nothing about
how sure the *model* is. Monte-Carlo dropout (Gal & Ghahramani 2016) keeps dropout active at prediction
time and repeats the prediction. The spread (standard deviation)
of the predictions, or the entropy of their mean, is the uncertainty map.
"""
from __future__ import annotations

import numpy as np


def _has_dropout(model) -> bool:
    import keras

    return any(isinstance(layer, keras.layers.Dropout) and layer.rate > 0 for layer in model.layers)


def mc_dropout_predict(model, x, *, n_samples: int = 20, batch_size: int = 16, from_logits: bool = False):
    """Mean and standard deviation of `n_samples` stochastic forward passes with dropout active.

    Args:
        model: a Keras model containing `Dropout` layers (e.g. ``build_cirrus_unet(dropout=0.2)``).
        x: input batch (N, H, W, C).
        n_samples: number of passes.
        batch_size: images per forward pass.
        from_logits: apply a sigmoid to the outputs first.

    Returns:
        (mean, std): arrays shaped like the model output.

    Raises:
        ValueError: the model has no active dropout (every pass would be identical).
    """
    import keras

    if not _has_dropout(model):
        raise ValueError(f"model {model.name!r} has no Dropout layer with rate > 0; build it with dropout > 0 "
                         "for Monte-Carlo dropout")
    if int(n_samples) < 2:
        raise ValueError(f"n_samples must be >= 2; received {n_samples!r}")
    x = np.asarray(x, np.float32)
    preds = []
    for _ in range(int(n_samples)):
        out = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=True))
               for i in range(0, len(x), batch_size)]
        p = np.concatenate(out)
        preds.append(1 / (1 + np.exp(-p)) if from_logits else p)
    preds = np.stack(preds)
    return preds.mean(axis=0), preds.std(axis=0)


def predictive_entropy(p, eps: float = 1e-7) -> np.ndarray:
    """Binary entropy (bits) of a probability map: 0 where sure, 1 at p = 0.5."""
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
