"""CIRRUS networks: the Keras U-Net, the double-convolution U-Net and the clear/cloudy CNN.

Introduced in notebooks 03 (classifier) and 04 (segmentation). Specification:
``reference/cirrus.md`` §5 and §6 (CIRRUS, Sommer, Kabalan & Brunet 2025, AMT 18, 2083).

| builder | input | parameters there | output |
|---|---|---|---|
| `build_cirrus_unet` | 128×160×1 | 2,103,297 | per-pixel cloud probability (sigmoid) |
| `build_double_conv_unet` | 128×160×1 | 14,861,185 | per-pixel cloud **logits** (no activation) |
| `build_cirrus_classifier` | 128×160×1 | depends on the Optuna-chosen depth | 2 class logits |
"""
from __future__ import annotations

import keras
from keras import layers


def _check_shape(input_shape, depth: int, builder: str) -> tuple:
    from ._checks import shape3

    shape = shape3(input_shape, builder)
    step = 2 ** depth
    if shape[0] % step or shape[1] % step:
        raise ValueError(f"{builder}: height and width must be divisible by 2**{depth} = {step} "
                         f"(one 2×2 pooling per level); Received: input_shape={input_shape!r}")
    return shape


def _check_channels(channels, builder: str, name: str = "channels") -> tuple:
    from ._checks import int_sequence

    return int_sequence(channels, name, builder)


def _check_dropout(dropout, builder: str) -> float:
    from ._checks import number

    return number(dropout, "dropout", builder, low=0.0, high=1.0)


def build_cirrus_unet(input_shape=(128, 160, 1), *, channels=(64, 128, 256), dropout: float = 0.0,
                      name: str = "cirrus_unet") -> keras.Model:
    """The CIRRUS Keras U-Net (single convolution per level, no bottleneck).

    Encoder level: Conv2D(n, 3×3, ReLU, same) → kept as skip → MaxPool(2, same).
    Decoder level (skips in reverse): UpSampling2D(2, nearest) → Concatenate → Conv2D(n, 3×3, **ELU**, same).
    Head: Conv2D(1, 3×3, sigmoid, same). Kernels ``glorot_uniform`` (the Keras default).
    With the default channels (64, 128, 256) at 128×160×1 the model has 2,103,297 parameters.

    Args:
        input_shape: (height, width, channels). Height and width must be divisible by
            ``2 ** len(channels)`` (8 for the default).
        channels: filters per level, encoder order. Smaller values (e.g. (16, 32, 64)) give
            the tiny-profile model with the same structure.
        dropout: rate of a `Dropout` layer before each decoder convolution; 0 (the original)
            adds no layer. A positive rate enables Monte-Carlo-dropout uncertainty
            (`solarcnn.cirrus.uncertainty.mc_dropout_predict`).
        name: model name; layer names derive from it.

    Returns:
        A functional `keras.Model` mapping (B, H, W, C) to cloud probabilities (B, H, W, 1).

    Example:
        >>> model = build_cirrus_unet()
        >>> model.count_params()
        2103297
    """
    ch = _check_channels(channels, "build_cirrus_unet")
    shape = _check_shape(input_shape, len(ch), "build_cirrus_unet")
    dropout = _check_dropout(dropout, "build_cirrus_unet")
    inputs = keras.Input(shape=shape, name=f"{name}_input")
    x = inputs
    skips = []
    for i, n in enumerate(ch, start=1):
        x = layers.Conv2D(n, 3, padding="same", activation="relu", name=f"{name}_enc{i}_conv")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, strides=2, padding="same", name=f"{name}_enc{i}_pool")(x)
    for i, (n, skip) in enumerate(zip(reversed(ch), reversed(skips)), start=1):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_dec{i}_up")(x)
        x = layers.Concatenate(name=f"{name}_dec{i}_concat")([x, skip])
        if dropout > 0:
            x = layers.Dropout(dropout, name=f"{name}_dec{i}_dropout")(x)
        x = layers.Conv2D(n, 3, padding="same", activation="elu", name=f"{name}_dec{i}_conv")(x)
    # the head computes and returns float32 under a mixed policy (Keras' advice: a stable loss, NumPy-ready output)
    outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32", name=f"{name}_head")(x)
    return keras.Model(inputs, outputs, name=name)


def _double_conv(x, n: int, name: str):
    init = keras.initializers.LecunNormal()
    for k in (1, 2):
        x = layers.Conv2D(n, 3, padding="same", kernel_initializer=init, bias_initializer="zeros",
                          name=f"{name}_conv{k}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{k}")(x)
    return x


def build_double_conv_unet(input_shape=(128, 160, 1), *, channels=(64, 128, 256, 512), dropout: float = 0.0,
                           name: str = "double_conv_unet") -> keras.Model:
    """The CIRRUS double-convolution U-Net (port of the Flax ``CIRRUS_Net``).

    Level: DoubleConv(c) = [Conv(c, 3×3, same) → ReLU] × 2, kernels ``LecunNormal``, zero bias, no
    batch norm; kept as skip; MaxPool(2, same). Decoder: nearest 2× upsampling to the skip's size
    → Concatenate → DoubleConv(c), channels in reverse. Head: Conv(1, 3×3, same) giving **logits**
    (train with ``BinaryCrossentropy(from_logits=True)``). The unused ``bottle_neck_conv=1024`` of
    the original is not built. Default channels at 128×160×1: 14,861,185 parameters, deepest map 8×10×512.

    Args:
        input_shape: (height, width, channels); height and width divisible by ``2 ** len(channels)``
            (16 for the default).
        channels: filters per level, encoder order.
        dropout: rate of a `Dropout` before each decoder double convolution (0: none, as the original).
        name: model name; layer names derive from it.

    Returns:
        A functional `keras.Model` mapping (B, H, W, C) to logits (B, H, W, 1).
    """
    ch = _check_channels(channels, "build_double_conv_unet")
    shape = _check_shape(input_shape, len(ch), "build_double_conv_unet")
    dropout = _check_dropout(dropout, "build_double_conv_unet")
    inputs = keras.Input(shape=shape, name=f"{name}_input")
    x = inputs
    skips = []
    for i, n in enumerate(ch, start=1):
        x = _double_conv(x, n, f"{name}_down{i}")
        skips.append(x)
        x = layers.MaxPooling2D(2, strides=2, padding="same", name=f"{name}_down{i}_pool")(x)
    for i, (n, skip) in enumerate(zip(reversed(ch), reversed(skips)), start=1):
        # nearest resize to the skip's size == nearest 2x upsampling because sizes divide exactly
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up{i}_resize")(x)
        x = layers.Concatenate(name=f"{name}_up{i}_concat")([x, skip])
        if dropout > 0:
            x = layers.Dropout(dropout, name=f"{name}_up{i}_dropout")(x)
        x = _double_conv(x, n, f"{name}_up{i}")
    outputs = layers.Conv2D(1, 3, padding="same", kernel_initializer=keras.initializers.LecunNormal(),
                            dtype="float32", name=f"{name}_head")(x)     # float32 logits under bf16
    return keras.Model(inputs, outputs, name=name)


def build_cirrus_classifier(input_shape=(128, 160, 1), num_classes: int = 2, *, filters=(32,),
                            dense_units: int = 8, name: str = "cirrus_classifier") -> keras.Model:
    """The CIRRUS clear-vs-cloudy CNN (the Optuna-tuned Keras classifier, §6).

    Conv2D(32, 3×3, ReLU, same) + MaxPool(2) → one [Conv2D(n, 3×3, ReLU, same) + MaxPool(2, same)]
    per entry of `filters` (the original searched 1–5 layers of 8–64 filters) → Flatten →
    Dense(`dense_units`, ReLU) → Dense(`num_classes`) **logits** (train with
    ``SparseCategoricalCrossentropy(from_logits=True)``).

    Args:
        input_shape: (height, width, channels); any size of at least 2**(len(filters)+1) per side.
        num_classes: number of output logits (2: clear, cloudy).
        filters: filters of the searched convolution blocks, 1 to 5 entries in the original search.
        dense_units: width of the hidden dense layer (8 in the original).
        name: model name; layer names derive from it.

    Returns:
        A functional `keras.Model` mapping (B, H, W, C) to logits (B, num_classes).
    """
    from ._checks import integer, shape3

    fl = _check_channels(filters, "build_cirrus_classifier", "filters")
    shape = shape3(input_shape, "build_cirrus_classifier")
    num_classes = integer(num_classes, "num_classes", "build_cirrus_classifier", minimum=2)
    dense_units = integer(dense_units, "dense_units", "build_cirrus_classifier")
    if min(shape[:2]) < 2 ** (len(fl) + 1):
        raise ValueError(f"build_cirrus_classifier: input_shape must be (height, width, channels) with "
                         f"height and width >= {2 ** (len(fl) + 1)}; Received: input_shape={input_shape!r}")
    if int(num_classes) < 2 or int(dense_units) < 1:
        raise ValueError(f"build_cirrus_classifier: need num_classes >= 2 and dense_units >= 1; "
                         f"Received: num_classes={num_classes!r}, dense_units={dense_units!r}")
    inputs = keras.Input(shape=shape, name=f"{name}_input")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name=f"{name}_stem_conv")(inputs)
    x = layers.MaxPooling2D(2, name=f"{name}_stem_pool")(x)
    for i, n in enumerate(fl, start=1):
        x = layers.Conv2D(n, 3, padding="same", activation="relu", name=f"{name}_block{i}_conv")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"{name}_block{i}_pool")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(int(dense_units), activation="relu", name=f"{name}_dense")(x)
    outputs = layers.Dense(int(num_classes), name=f"{name}_logits")(x)
    return keras.Model(inputs, outputs, name=name)
