"""Full-disk flare-prediction networks (Pandey, Angryk & Aydin 2023).

Three ImageNet backbones (AlexNet, VGG16 without batch norm, ResNet34) behind
one added convolution that maps the grey magnetogram (1 channel) to the 3
channels an ImageNet network expects, and a new two-class head. Introduced in
notebook 06.

Parameter counts at the paper's input, ``(512, 512, 1)``, 2 classes (checked in
``tests/test_flare_models.py``):

| backbone | trainable | non-trainable |
|---|---|---|
| ``alexnet``  | 57,012,064  | 0 |
| ``vgg16``    | 134,268,768 | 0 |
| ``resnet34`` | 21,285,728  | 17,024 (BatchNorm moving statistics) |

The model returns **logits**; train with ``from_logits=True`` (the original's
``log_softmax`` + NLL loss is the same function) and take
``softmax(logits)[:, 1] >= 0.5`` as the flare prediction.
"""
from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from ..errors import DataFileError

from .batchnorm import BatchNormalization  # Keras' layer; TensorFlow's fused kernel under TF

BACKBONES = ("alexnet", "vgg16", "resnet34")
# The smallest square input each backbone accepts (all feature maps >= 1 pixel).
MIN_INPUT = {"alexnet": 63, "vgg16": 32, "resnet34": 32}

# PyTorch BatchNorm defaults (epsilon 1e-5, running-average factor 0.1).
_BN = {"epsilon": 1e-5, "momentum": 0.9}


def adaptive_pool_bins(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """PyTorch ``AdaptiveAvgPool`` bins: bin i covers ``[floor(i*In/Out), ceil((i+1)*In/Out))``.

    >>> adaptive_pool_bins(15, 6)
    [(0, 3), (2, 5), (5, 8), (7, 10), (10, 13), (12, 15)]
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be >= 1; received in_size={in_size}, out_size={out_size}")
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)) for i in range(out_size)]


def _pool_matrix(in_size: int, out_size: int) -> np.ndarray:
    m = np.zeros((out_size, in_size), dtype="float32")
    for i, (a, b) in enumerate(adaptive_pool_bins(in_size, out_size)):
        m[i, a:b] = 1.0 / (b - a)
    return m


@keras.saving.register_keras_serializable(package="solarcnn")
class AdaptiveAveragePooling2D(layers.Layer):
    """Average pooling to a fixed output size with PyTorch's (overlapping) bins.

    A plain ``AveragePooling2D`` cannot reproduce ``AdaptiveAvgPool2d`` when the
    input size is not a multiple of the output size (15 -> 6 in AlexNet,
    16 -> 7 in VGG16). The layer multiplies by two fixed averaging matrices.

    Args:
        output_size: ``(out_h, out_w)`` or one int for both.
    """

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(int(s) for s in output_size)

    def build(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        if h is None or w is None:
            raise ValueError(f"{self.name}: needs a static spatial size; received input shape {input_shape}")
        # Fixed averaging matrices (constants, not weights: they are not parameters).
        self._ph = _pool_matrix(h, self.output_size[0])
        self._pw = _pool_matrix(w, self.output_size[1])
        self.built = True

    def call(self, x):
        ph = ops.convert_to_tensor(self._ph, dtype=x.dtype)
        pw = ops.convert_to_tensor(self._pw, dtype=x.dtype)
        x = ops.einsum("ih,bhwc->biwc", ph, x)
        return ops.einsum("jw,biwc->bijc", pw, x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_size[0], self.output_size[1], input_shape[3])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


def _added_conv(x, name):
    """The paper's added layer: conv 1 -> 3, 3x3, stride 1, padding 1, bias, ReLU."""
    x = layers.Conv2D(3, 3, padding="same", use_bias=True, name=f"{name}_first_conv",
                      kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
                      bias_initializer="zeros")(x)
    return layers.ReLU(name=f"{name}_first_conv_relu")(x)


_HEAD_INIT = {"paper": lambda: keras.initializers.RandomNormal(stddev=0.01),
              "he": lambda: keras.initializers.HeNormal()}


def _dense(units, name, init="paper"):
    return layers.Dense(units, name=name, kernel_initializer=_HEAD_INIT[init](), bias_initializer="zeros")


def _conv_init(init):
    return keras.initializers.HeNormal() if init == "he" else "glorot_uniform"


def _ch(channels, width):
    """Channels of a conv layer scaled by the width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))


def _alexnet(x, name, num_classes, fc_units, dropout, init, width=1.0):
    def conv(x, filters, k, s, p, tag):
        same = s == 1 and p == k // 2         # torchvision's symmetric padding is Keras' "same" there
        if not same:
            x = layers.ZeroPadding2D(p, name=f"{name}_{tag}_pad")(x)
        x = layers.Conv2D(_ch(filters, width), k, strides=s, padding="same" if same else "valid",
                          kernel_initializer=_conv_init(init), name=f"{name}_{tag}")(x)
        return layers.ReLU(name=f"{name}_{tag}_relu")(x)

    x = conv(x, 64, 11, 4, 2, "conv1")
    x = layers.MaxPooling2D(3, 2, name=f"{name}_pool1")(x)
    x = conv(x, 192, 5, 1, 2, "conv2")
    x = layers.MaxPooling2D(3, 2, name=f"{name}_pool2")(x)
    x = conv(x, 384, 3, 1, 1, "conv3")
    x = conv(x, 256, 3, 1, 1, "conv4")
    x = conv(x, 256, 3, 1, 1, "conv5")
    x = layers.MaxPooling2D(3, 2, name=f"{name}_pool5")(x)
    x = AdaptiveAveragePooling2D(6, name=f"{name}_avgpool")(x)
    # PyTorch flattens (C, H, W); the order matters only when importing its FC weights.
    x = layers.Permute((3, 1, 2), name=f"{name}_to_chw")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dropout(dropout, name=f"{name}_drop1")(x)
    x = layers.ReLU(name=f"{name}_fc1_relu")(_dense(fc_units, f"{name}_fc1", init)(x))
    x = layers.Dropout(dropout, name=f"{name}_drop2")(x)
    x = layers.ReLU(name=f"{name}_fc2_relu")(_dense(fc_units, f"{name}_fc2", init)(x))
    return _dense(num_classes, f"{name}_logits")(x)


def _vgg16(x, name, num_classes, fc_units, dropout, init, width=1.0):
    cfg = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
    for b, block in enumerate(cfg, start=1):
        for c, filters in enumerate(block, start=1):
            x = layers.Conv2D(_ch(filters, width), 3, padding="same", kernel_initializer=_conv_init(init),
                              name=f"{name}_block{b}_conv{c}")(x)
            x = layers.ReLU(name=f"{name}_block{b}_conv{c}_relu")(x)
        x = layers.MaxPooling2D(2, 2, name=f"{name}_block{b}_pool")(x)
    x = AdaptiveAveragePooling2D(7, name=f"{name}_avgpool")(x)
    x = layers.Permute((3, 1, 2), name=f"{name}_to_chw")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.ReLU(name=f"{name}_fc1_relu")(_dense(fc_units, f"{name}_fc1", init)(x))
    x = layers.Dropout(dropout, name=f"{name}_drop1")(x)
    x = layers.ReLU(name=f"{name}_fc2_relu")(_dense(fc_units, f"{name}_fc2", init)(x))
    x = layers.Dropout(dropout, name=f"{name}_drop2")(x)
    return _dense(num_classes, f"{name}_logits")(x)


def _resnet34(x, name, num_classes, width=1.0):
    he = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")

    def conv_bn(x, filters, k, s, tag, relu=True):
        # torchvision pads k // 2 on every side. At stride 1 that is Keras' "same" (one op fewer, and no
        # Pad / Slice pair in the backward pass); at stride 2 "same" would pad only after, so pad explicitly
        if k > 1 and s > 1:
            x = layers.ZeroPadding2D(k // 2, name=f"{tag}_pad")(x)
        x = layers.Conv2D(filters, k, strides=s, padding="same" if s == 1 else "valid", use_bias=False,
                          kernel_initializer=he, name=f"{tag}_conv")(x)
        x = BatchNormalization(name=f"{tag}_bn", **_BN)(x)
        return layers.ReLU(name=f"{tag}_relu")(x) if relu else x

    x = conv_bn(x, _ch(64, width), 7, 2, f"{name}_stem")
    x = layers.ZeroPadding2D(1, name=f"{name}_stem_pool_pad")(x)  # after ReLU, so zero = -inf padding
    x = layers.MaxPooling2D(3, 2, name=f"{name}_stem_pool")(x)
    for s, (filters, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        filters = _ch(filters, width)
        for b in range(blocks):
            stride = 2 if (s > 1 and b == 0) else 1
            tag = f"{name}_layer{s}_block{b}"
            shortcut = x
            if stride != 1 or x.shape[-1] != filters:
                shortcut = conv_bn(x, filters, 1, stride, f"{tag}_proj", relu=False)
            y = conv_bn(x, filters, 3, stride, f"{tag}_a")
            y = conv_bn(y, filters, 3, 1, f"{tag}_b", relu=False)
            x = layers.ReLU(name=f"{tag}_out")(layers.Add(name=f"{tag}_add")([shortcut, y]))
    x = layers.GlobalAveragePooling2D(name=f"{name}_avgpool")(x)
    return layers.Dense(num_classes, name=f"{name}_logits", kernel_initializer=keras.initializers.RandomNormal(
        stddev=0.01), bias_initializer="zeros")(x)


def build_flare_model(backbone: str = "alexnet", input_shape=(512, 512, 1), num_classes: int = 2,
                      weights: str | os.PathLike | None = None, *, fc_units: int = 4096, dropout: float = 0.5,
                      head_init: str = "paper", width: float = 1.0, name: str | None = None) -> keras.Model:
    """Build the full-disk flare classifier of Pandey et al. (2023).

    ``input (H, W, 1) in [0, 1] -> added conv 1->3 + ReLU -> backbone -> logits (num_classes)``.
    No ImageNet mean/std normalisation is applied (as in the original).

    Args:
        backbone: ``"alexnet"``, ``"vgg16"`` (no batch norm) or ``"resnet34"``.
        input_shape: ``(H, W, 1)``; the paper uses ``(512, 512, 1)``. Minimum square size:
            63 for AlexNet, 32 for VGG16 and ResNet34.
        num_classes: 2 in the paper (NF, FL).
        weights: None (random initialisation) or the path of a local Keras weights file
            (``.weights.h5``) for this exact architecture, e.g. torchvision ImageNet weights
            converted once by the user. Nothing is downloaded.
        fc_units: width of the two hidden fully connected layers of AlexNet/VGG16 (4096 in the
            paper; smaller values give the cheap variants used in the tiny profile). Ignored for ResNet34.
        dropout: dropout rate of the AlexNet/VGG16 classifier (0.5 in the paper).
        head_init: ``"paper"`` (new Linear layers ~ N(0, 0.01), as the original, which fine-tunes
            pretrained features) or ``"he"`` (He-normal backbone convolutions and hidden FC layers,
            so that AlexNet/VGG16, which have no batch norm, train from scratch: the tiny profile,
            where no pretrained weights exist).
        width: channel multiplier of every backbone convolution (1.0 = the paper's networks and
            parameter counts; e.g. 0.125 gives ResNet34 with 8/16/32/64 channels, the cheap
            variant of the tiny profile). The added 1 -> 3 convolution is never scaled.
        name: model name; defaults to ``"flare_<backbone>"``.

    Returns:
        A functional `keras.Model` returning logits of shape ``(batch, num_classes)``.

    Raises:
        ValueError: unknown backbone, wrong number of channels or input too small.
        solarcnn.errors.DataFileError: the weights file is missing or does not fit the model.
    """
    from . import _checks

    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}; received {backbone!r}")
    input_shape = _checks.shape3(input_shape, "build_flare_model")
    if input_shape[-1] != 1:
        raise ValueError(f"input_shape must be (H, W, 1) (one grey magnetogram channel); received {input_shape}")
    if any(s is None or s < MIN_INPUT[backbone] for s in input_shape[:2]):
        raise ValueError(f"{backbone} needs H and W >= {MIN_INPUT[backbone]}; received input_shape={input_shape}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int; received {num_classes!r}")
    if isinstance(fc_units, bool) or not isinstance(fc_units, int) or fc_units < 1:
        raise ValueError(f"fc_units must be a positive int; received {fc_units!r}")
    if head_init not in _HEAD_INIT:
        raise ValueError(f"head_init must be one of {sorted(_HEAD_INIT)}; received {head_init!r}")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not 0.0 < width <= 4.0:
        raise ValueError(f"width must be a number in (0, 4]; received {width!r}")
    dropout = _checks.number(dropout, "dropout", "build_flare_model", low=0.0, high=1.0)
    name = name or f"flare_{backbone}"
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = _added_conv(inputs, name)
    if backbone == "alexnet":
        outputs = _alexnet(x, name, num_classes, fc_units, dropout, head_init, width)
    elif backbone == "vgg16":
        outputs = _vgg16(x, name, num_classes, fc_units, dropout, head_init, width)
    else:
        outputs = _resnet34(x, name, num_classes, width)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_flare_weights(model, weights)
    return model


def load_flare_weights(model: keras.Model, path: str | os.PathLike) -> keras.Model:
    """Load a local weights file into `model`, with an error naming the file on failure."""
    if isinstance(path, str) and path.lower() in ("imagenet", "pretrained"):
        raise ValueError(f"weights={path!r}: solarcnn downloads no weights. Convert the torchvision ImageNet "
                         "weights once and pass the path of the resulting .weights.h5 file.")
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "weights file not found")
    if not path.name.endswith(".weights.h5"):
        raise DataFileError(path, "weights file must be a Keras '.weights.h5' file")
    try:
        model.load_weights(path)
    except Exception as exc:
        raise DataFileError(path, f"weights do not fit model {model.name!r} "
                                  f"({type(exc).__name__}: {str(exc)[:300]})") from exc
    return model


def trainable_count(model: keras.Model) -> int:
    """Number of trainable parameters (what PyTorch counts with ``requires_grad``)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def non_trainable_count(model: keras.Model) -> int:
    """Non-trainable parameters (the BatchNorm moving mean and variance of ResNet34)."""
    return int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
