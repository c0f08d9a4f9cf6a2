"""Slic: the VGG-13-like solar feature classifier of Armstrong & Fletcher (2019).

Introduced in notebook 02. The network classifies one grey Hinode/SOT frame
into five classes (alphabetical folder order of the original training data):
0 filaments, 1 flare ribbons, 2 prominences, 3 quiet Sun, 4 sunspots.

Faithful details (reference spec ``slic.md`` §3, §10):

- every convolution is 3×3, stride 1, "same" padding, with bias, followed by
  BatchNorm (PyTorch defaults: epsilon 1e-5, momentum 0.1, i.e. Keras 0.9) and ReLU;
- the fifth "VGG block" applies the *same* eighth conv+BN module three times
  (the original's ``layer8`` reuse): 10 conv applications, 8 unique convs,
  155,711,685 trainable parameters at 256×256×1. ``share_last_conv=False``
  gives the de-duplicated variant (10 separate conv+BN, 160,433,349);
- the classifier is Dense 4096 → ReLU → Dropout 0.5 → Dense 4096 → ReLU →
  Dropout 0.5 → Dense 5, returning **logits** (softmax only for display);
- PyTorch's default initialisation (kaiming-uniform with a = √5 for kernels,
  U(±1/√fan_in) for biases), which is what the original effectively ran with;
- the input is the byte-scaled image as float in 0…255, no further scaling.
"""
from __future__ import annotations

import math

import keras

from .batchnorm import BatchNormalization  # Keras' layer; TensorFlow's fused kernel under TF

__all__ = ["build_slic", "TorchBiasUniform", "SLIC_CLASSES", "slic_trainable_count"]

SLIC_CLASSES = ("filaments", "flares", "prominences", "quiet", "sunspots")
# (filters, pool after this conv?) for the 8 unique conv modules of the original.
_CONVS = ((64, False), (64, True), (128, False), (128, True), (256, False), (256, True), (512, False), (512, True))


@keras.saving.register_keras_serializable(package="solarcnn")
class TorchBiasUniform(keras.initializers.Initializer):
    """PyTorch's default bias initialiser: U(−1/√fan_in, +1/√fan_in).

    Args:
        fan_in: the number of inputs of the layer (9·C_in for a 3×3 conv,
            the input width for a dense layer).
    """

    def __init__(self, fan_in: int, seed=None):
        if fan_in <= 0:
            raise ValueError(f"fan_in must be positive; received {fan_in!r}")
        self.fan_in = int(fan_in)
        self.seed = seed
        self._init = keras.initializers.RandomUniform(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), seed=seed)

    def __call__(self, shape, dtype=None):
        return self._init(shape, dtype=dtype)

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": self.seed}


def _kernel_init(torch_init: bool):
    # PyTorch default kaiming_uniform_(a=sqrt(5)) == U(±sqrt(1/fan_in)) == VarianceScaling(1/3, fan_in, uniform)
    if torch_init:
        return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")
    return "he_normal"


def _bias_init(torch_init: bool, fan_in: int):
    return TorchBiasUniform(fan_in) if torch_init else "zeros"


def slic_trainable_count(img_size: int = 256, num_classes: int = 5) -> int:
    """The faithful network's trainable parameter count at ``img_size``² (spec §11 formula)."""
    if img_size % 32:
        raise ValueError(f"img_size must be a multiple of 32; received {img_size!r}")
    return (4_684_224 + 3_840 + (img_size // 32) ** 2 * 512 * 4096 + 4096 + 16_781_312
            + 4096 * num_classes + num_classes)


def build_slic(input_shape=(256, 256, 1), num_classes: int = 5, *, share_last_conv: bool = True,
               width_multiplier: float = 1.0, dense_units: int | None = None, dropout: float = 0.5,
               torch_init: bool = True, name: str = "slic") -> keras.Model:
    """Build the Slic classifier (VGG-13-like, logits output).

    Args:
        input_shape: ``(height, width, channels)``. Height and width must be
            positive multiples of 32 (five 2×2 max-pools); the paper uses
            ``(256, 256, 1)``. The tiny profile uses e.g. ``(64, 64, 1)``.
        num_classes: number of output logits (5 in the paper).
        share_last_conv: True (faithful, the default) reuses the eighth conv+BN
            module for the two convolutions of the fifth block, as the original
            ``model.py`` does; False gives them their own weights.
        width_multiplier: scales the number of conv filters (64…512) and, unless
            `dense_units` is given, the 4096 dense units. 1.0 is the paper.
        dense_units: width of the two hidden dense layers; default
            ``round(4096 * width_multiplier)``.
        dropout: dropout rate after each hidden dense layer (0.5 in the paper).
        torch_init: True (faithful) uses PyTorch's default initialisation;
            False uses He-normal kernels and zero biases.
        name: model name and prefix of the layer names.

    Returns:
        A functional `keras.Model` mapping images in 0…255 (float) to
        ``num_classes`` logits.

    Raises:
        ValueError: bad input shape, class count, multiplier or dropout.
    """
    from . import _checks

    try:
        shape = _checks.shape3(input_shape, "build_slic")
    except ValueError:
        shape = (0,)      # reported below, with the multiple-of-32 rule
    if len(shape) != 3 or shape[0] % 32 or shape[1] % 32:
        raise ValueError("input_shape must be (height, width, channels) with height and width positive multiples "
                         f"of 32; received {input_shape!r}")
    input_shape = shape
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; received {num_classes!r}")
    width_multiplier = _checks.number(width_multiplier, "width_multiplier", "build_slic", low=0, low_open=True,
                                      high=None)
    dropout = _checks.number(dropout, "dropout", "build_slic", low=0.0, high=1.0)
    share_last_conv = _checks.flag(share_last_conv, "share_last_conv", "build_slic")
    torch_init = _checks.flag(torch_init, "torch_init", "build_slic")
    if dense_units is None:
        dense_units = max(1, int(round(4096 * width_multiplier)))
    if isinstance(dense_units, bool) or not isinstance(dense_units, int) or dense_units < 1:
        raise ValueError(f"dense_units must be a positive integer; received {dense_units!r}")

    def conv_bn(idx: int, filters: int, c_in: int):
        conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=True,
                                   kernel_initializer=_kernel_init(torch_init),
                                   bias_initializer=_bias_init(torch_init, 9 * c_in),
                                   name=f"{name}_conv{idx}")
        bn = BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn{idx}")
        return conv, bn

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    c_in = input_shape[-1]
    filters = c_in
    layers = {}
    for i, (f, pool) in enumerate(_CONVS, start=1):
        filters = max(1, int(round(f * width_multiplier)))
        layers[i] = conv_bn(i, filters, c_in)
        conv, bn = layers[i]
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(bn(conv(x)))
        c_in = filters
        if pool:
            x = keras.layers.MaxPooling2D(2, strides=2, name=f"{name}_pool{i // 2}")(x)
    # Fifth block: two more 3x3 convolutions at the last width.
    for j in (9, 10):
        if share_last_conv:
            conv, bn = layers[8]  # the original applies its layer8 (same Conv2d, same BatchNorm) again
        else:
            conv, bn = conv_bn(j, filters, c_in)
        x = keras.layers.ReLU(name=f"{name}_relu{j}")(bn(conv(x)))
    x = keras.layers.MaxPooling2D(2, strides=2, name=f"{name}_pool5")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    fan_in = (input_shape[0] // 32) * (input_shape[1] // 32) * filters
    for k in (1, 2):
        x = keras.layers.Dense(dense_units, activation="relu", kernel_initializer=_kernel_init(torch_init),
                               bias_initializer=_bias_init(torch_init, fan_in), name=f"{name}_fc{k}")(x)
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout{k}")(x)
        fan_in = dense_units
    outputs = keras.layers.Dense(num_classes, kernel_initializer=_kernel_init(torch_init),
                                 bias_initializer=_bias_init(torch_init, fan_in), name=f"{name}_logits")(x)
    return keras.Model(inputs, outputs, name=name)
