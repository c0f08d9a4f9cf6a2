"""DeepCAM's weighted cross-entropy: its home is `solarcnn.training.losses` (the definition is there).

The names the notebooks use stay here: ``WeightedCrossEntropy`` is `PixelWeightedCrossEntropy`,
``class_weights`` is `frequency_weights` (DeepCAM's reference weights by default).
"""
from __future__ import annotations

from ..training.losses import (  # noqa: F401
    CLASS_FREQUENCIES, LOSS_POW, PixelWeightedCrossEntropy, frequency_weights, weighted_cross_entropy_np,
)

WeightedCrossEntropy = PixelWeightedCrossEntropy
class_weights = frequency_weights

__all__ = ["CLASS_FREQUENCIES", "LOSS_POW", "WeightedCrossEntropy", "class_weights", "weighted_cross_entropy_np",
           "PixelWeightedCrossEntropy", "frequency_weights"]
