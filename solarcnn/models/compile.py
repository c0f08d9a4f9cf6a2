"""Compile settings that depend on the machine, measured rather than guessed (``benchmarks/RESULTS.md``)."""
from __future__ import annotations


def recommended_jit_compile(model) -> bool | str:
    """The ``jit_compile`` value to pass to ``model.compile`` for `model` on this machine.

    ``"auto"`` (Keras' default: XLA wherever the model supports it) except on the TensorFlow backend without a
    GPU, where it is ``False``. On the course's 2-core CPU, TensorFlow's own kernels beat XLA:CPU for all four
    models (training / inference samples per second at the benchmark's quick sizes, XLA on vs off):

    | model | XLA | no XLA |
    |---|---|---|
    | Slic | 38.1 / 157 | 38.3 / 176 |
    | CIRRUS U-Net | 5.95 / 19.5 | 7.58 / 26.0 |
    | flare ResNet34 | 23.6 / 121 | 31.2 / 141 |
    | DeepLabv3+ | 4.0 / 26.8 | 10.1 / 59.0 |

    DeepLabv3+ suffers most: XLA lowers its depthwise convolutions to feature-grouped convolutions, for which
    XLA:CPU has no fast kernel (62 ms against 0.5 ms for one forward + backward pass on a (2, 4, 6, 1536) map).
    The JAX backend always compiles with XLA, so on a CPU prefer TensorFlow for that model; on a GPU, XLA is
    the fast path and ``"auto"`` keeps it.

    Args:
        model: a built `keras.Model` (unused today; the answer may depend on the model's layers later).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return "auto"
    import tensorflow as tf

    return "auto" if tf.config.list_physical_devices("GPU") else False
