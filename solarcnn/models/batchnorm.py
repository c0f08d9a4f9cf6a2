"""BatchNormalization with the backend's fused kernel where there is one.

`BatchNormalization` is `keras.layers.BatchNormalization` (same arguments, weights, config and results)
that, under the TensorFlow backend, runs TensorFlow's fused kernel (`batchnorm_tf`) for the common case:
4-D channels-last input, no mask, no renormalisation, not synchronised, and in bfloat16/float16 at
least `MIN_16BIT_CHANNELS` channels. Every other case, and every other backend, is Keras' own code.
The package's builders use it for Slic, ResNet34 and DeepLabv3+.
"""
from __future__ import annotations

import keras

MIN_16BIT_CHANNELS = 16     # fewest channels for the fused kernel on bfloat16/float16 input (see `_fused_ok`)


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
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if len(inputs.shape) != 4 or axis not in (-1, 3) or dtype not in ("float32", "bfloat16", "float16"):
            return False
        # In 16-bit, oneDNN's fused kernel was 2.3x slower than Keras' ops for 8 channels (flare ResNet34 at
        # width 0.125, notebook 06's tiny profile) and faster from 16 channels up (width 0.25 and 1.0)
        return dtype == "float32" or (inputs.shape[-1] or 0) >= MIN_16BIT_CHANNELS

    def call(self, inputs, training=None, mask=None):
        if not self._fused_ok(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        from .batchnorm_tf import fused_batch_norm

        if keras.backend.standardize_dtype(inputs.dtype) != self.compute_dtype:
            inputs = keras.ops.cast(inputs, self.compute_dtype)
        y = fused_batch_norm(self, inputs, bool(training and self.trainable))
        return keras.ops.cast(y, self.compute_dtype)
