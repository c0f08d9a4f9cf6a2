"""Compile settings that depend on the machine, measured rather than guessed (``benchmarks/RESULTS.md``)."""
from __future__ import annotations

# Layers that XLA lowers to feature-grouped convolutions. XLA's CPU backend has no fast kernel for them: on the
# 2-core benchmark machine one depthwise 3x3 forward + backward pass on a (2, 4, 6, 1536) map took 62 ms under
# XLA against 0.5 ms with TensorFlow's own kernel.
_GROUPED_CONV_LAYERS = ("DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D", "SeparableConv1D")


def recommended_jit_compile(model) -> bool | str:
    """The ``jit_compile`` value to pass to ``model.compile`` for `model` on this machine.

    ``"auto"`` (Keras' default: XLA wherever the model supports it) except in one measured case: the
    TensorFlow backend without a GPU, for a model with depthwise or separable convolutions (DeepLabv3+'s
    Xception encoder). There XLA:CPU runs those layers 10 to 100 times slower than TensorFlow's own kernels,
    and DeepLabv3+ trains 2.5 times faster without XLA (benchmark ``deeplabv3plus``, quick size). The JAX
    backend always compiles with XLA; on a CPU prefer TensorFlow for such models.

    Args:
        model: a built `keras.Model`.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return "auto"
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "auto"
    grouped = any(type(layer).__name__ in _GROUPED_CONV_LAYERS for layer in model._flatten_layers())
    return False if grouped else "auto"
