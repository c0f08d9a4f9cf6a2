"""CloudSegNet (Dev et al. 2019, IEEE GRSL; arXiv:1904.07979): a 4,929-parameter convolutional autoencoder.

Introduced in notebook 04 as the baseline the CIRRUS U-Net must beat. Specification:
``reference/cirrus.md`` §9. No batch norm, no skip connections.
"""
from __future__ import annotations

import keras
from keras import layers


def cloudsegnet_optimizer() -> keras.optimizers.Optimizer:
    """The original optimiser: ``'adadelta'`` with the Keras 2 defaults (learning rate **1.0**, rho 0.95).

    Keras 3 defaults to learning_rate 0.001, which barely trains this network; the value is set explicitly.
    """
    return keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95)


def build_cloudsegnet(input_shape=(300, 300, 3), *, pad_to_fit: bool = False,
                      name: str = "cloudsegnet") -> keras.Model:
    """CloudSegNet: encoder Conv(16)/Conv(8)/Conv(8) with 2×2 'same' pooling, decoder Conv(8)/Conv(8)/
    Conv(16, **valid**) with 2× upsampling, head Conv(1, 5×5, sigmoid). 4,929 parameters at 300×300×3.

    The original only closes for sizes where ``8 * ceil(H / 8) - 4 == H`` (H ≡ 4 mod 8, e.g. 300):
    the 'same' pooling 75 → 38 and the valid convolution 152 → 150 are both needed to return to 300.

    Args:
        input_shape: (height, width, channels). Without `pad_to_fit`, height and width must be
            ≡ 4 (mod 8). Inputs are raw 0–255 values in the original (no scaling).
        pad_to_fit: if True, zero-pad the input to the next size ≡ 4 (mod 8) and crop the output
            back, so any size works (e.g. 128×160); parameter count unchanged.
        name: model name; layer names derive from it.

    Returns:
        A functional `keras.Model` mapping (B, H, W, C) to cloud probabilities (B, H, W, 1).
    """
    from ._checks import flag, shape3

    h, w, c = shape3(input_shape, "build_cloudsegnet")
    pad_to_fit = flag(pad_to_fit, "pad_to_fit", "build_cloudsegnet")

    def fit(n):
        return n if n % 8 == 4 else n + (4 - n % 8) % 8

    if not pad_to_fit and (h % 8 != 4 or w % 8 != 4):
        raise ValueError(f"build_cloudsegnet: height and width must be ≡ 4 (mod 8) (e.g. 300) for the decoder "
                         f"to return to the input size, or pass pad_to_fit=True; Received: input_shape={input_shape!r}")
    inputs = keras.Input(shape=(h, w, c), name=f"{name}_input")
    x = inputs
    ph, pw = fit(h) - h, fit(w) - w
    if ph or pw:
        x = layers.ZeroPadding2D(((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)), name=f"{name}_pad")(x)
    for i, n in enumerate((16, 8, 8), start=1):
        x = layers.Conv2D(n, 3, padding="same", activation="relu", name=f"{name}_enc{i}_conv")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"{name}_enc{i}_pool")(x)
    for i, (n, pad) in enumerate(((8, "same"), (8, "same"), (16, "valid")), start=1):
        x = layers.Conv2D(n, 3, padding=pad, activation="relu", name=f"{name}_dec{i}_conv")(x)
        x = layers.UpSampling2D(2, name=f"{name}_dec{i}_up")(x)
    x = layers.Conv2D(1, 5, padding="same", activation="sigmoid", dtype="float32",   # float32 out under bf16
                      name=f"{name}_head")(x)
    if ph or pw:
        x = layers.Cropping2D(((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)), name=f"{name}_crop")(x)
    return keras.Model(inputs, x, name=name)


def binarize(probabilities, threshold: float = 0.5):
    """CloudSegNet's score-card binarisation: cloud where p > threshold (p == 0.5 → clear)."""
    import numpy as np

    return (np.asarray(probabilities) > threshold).astype(np.int8)
