"""Model builders, one module per published network.

Every public builder is a function ``build_*(input_shape=..., num_classes=..., **options)``
returning a functional `keras.Model`, defaulting to its paper's input size.
Imports are lazy so that ``import solarcnn.models`` does not import a backend.

| builder | module | paper input | parameters there |
|---|---|---|---|
| `build_slic` | `slic` | 256×256×1 | 155,711,685 |
| `build_cirrus_unet` | `cirrus` | 128×160×1 | 2,103,297 |
| `build_double_conv_unet` | `cirrus` | 128×160×1 | 14,861,185 |
| `build_cloudsegnet` | `cloudsegnet` | 300×300×3 | 4,929 |
| `build_deeplabv3plus` | `deeplabv3plus` | 768×1152×16 | 56,454,720 trainable |
| `build_flare_model` | `flare` | 512×512×1 | 57,012,064 / 134,268,768 / 21,285,728 |

For inference, `inference.predictor(model)` compiles a trained model's forward pass (weights frozen,
BatchNorm folded by `inference.fold_batch_norm`).
"""
from __future__ import annotations

import importlib

# builder name -> module in this package (a track adds its line here)
_BUILDERS = {
    "build_slic": "slic",
    "build_cirrus_unet": "cirrus",
    "build_double_conv_unet": "cirrus",
    "build_cirrus_classifier": "cirrus",
    "build_cloudsegnet": "cloudsegnet",
    "build_deeplabv3plus": "deeplabv3plus",
    "build_flare_model": "flare",
}

# inference helpers (any model) -> module
_HELPERS = {"fold_batch_norm": "inference", "predictor": "inference", "Predictor": "inference"}

__all__ = sorted({**_BUILDERS, **_HELPERS})


def __getattr__(name):
    if name in _BUILDERS:
        return getattr(importlib.import_module(f"{__name__}.{_BUILDERS[name]}"), name)
    if name in _HELPERS:
        return getattr(importlib.import_module(f"{__name__}.{_HELPERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
