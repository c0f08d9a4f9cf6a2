"""BatchNormalization with the backend's fused kernel where there is one.

`BatchNormalization` is `keras.layers.BatchNormalization` (same arguments, weights, config and results)
that, under the TensorFlow backend, runs TensorFlow's fused kernel (`batchnorm_tf`) for the common case:
4-D channels-last input, no mask, no renormalisation, not synchronised. Every other case, and every
other backend, is Keras' own code. The package's builders use it for Slic, ResNet34 and DeepLabv3+.
"""
from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="solarcnn")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization`, computed by TensorFlow's fused kernel under that backend.

    Numerically the same layer up to float rounding (tested against Keras' in training and inference, in
    float32 and ``mixed_bfloat16``): the moving statistics use the biased batch variance and
    ``momentum`` as Keras does.
    """

    def _fused_ok(self, inputs, mask) -> bool:
        if keras.backend.backend() != "tensorflow" or mask is not None or self.renorm or self.synchronized:
            return False
        axis = self.axis if isinstance(self.axis, int) else (self.axis[0] if len(self.axis) == 1 else None)
        return len(inputs.shape) == 4 and axis in (-1, 3) and \
            keras.backend.standardize_dtype(inputs.dtype) in ("float32", "bfloat16", "float16")

    def call(self, inputs, training=None, mask=None):
        if not self._fused_ok(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        from .batchnorm_tf import fused_batch_norm

        if keras.backend.standardize_dtype(inputs.dtype) != self.compute_dtype:
            inputs = keras.ops.cast(inputs, self.compute_dtype)
        y = fused_batch_norm(self, inputs, bool(training and self.trainable))
        return keras.ops.cast(y, self.compute_dtype)
