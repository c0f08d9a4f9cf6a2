"""Synthetic data in the real on-disk formats. See `base` for the interface.

Generators (each registered under a short name, ``solarcnn.synthetic.get(name)``):

- ``sunspot_disk``  full-disk continuum image with limb darkening and sunspots (worked example, notebook 00)
- track generators add their own modules here and list them in ``_MODULES``.
"""
from __future__ import annotations

import importlib

from .base import Sample, SyntheticGenerator, available, get, register  # noqa: F401

# Modules holding generators; importing one registers its generators.
_MODULES = ["example", "sot", "allsky", "cam5", "magnetogram"]


def _load_all() -> None:
    for mod in _MODULES:
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{mod}":
                raise
