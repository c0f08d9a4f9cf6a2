"""Metrics and skill scores (NumPy; Keras metric classes where training needs them).

| function | module | used in |
|---|---|---|
| `tss`, `hss`, `confusion_2x2` | `forecast` | flare prediction (06) |
| `iou`, `pixel_scores` | `segmentation` | CIRRUS (04), WSISEG |
| `deepcam_iou` | `deepcam` | DeepCAM (05) |
| `bootstrap_ci`, `seed_interval` | `uncertainty` | every headline number's interval |

Imports are lazy; a track adds its names to `_NAMES`.
"""
from __future__ import annotations

import importlib

_NAMES = {
    "tss": "forecast",
    "hss": "forecast",
    "confusion_2x2": "forecast",
    "iou": "segmentation",
    "pixel_scores": "segmentation",
    "deepcam_iou": "deepcam",
    "bootstrap_ci": "uncertainty",
    "seed_interval": "uncertainty",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
