"""Synthetic data in the real on-disk formats. See `base` for the interface.

Layer 3: the generators depend only on `solarcnn.io` (the file formats), `utils` and `errors`, never on a
track, so a track's tests and notebooks can build their data without importing another track. The data
registry builds derived sets with them through `solarcnn.data.use_generators` (set by ``import solarcnn``).

Generators (each registered under a short name, ``solarcnn.synthetic.get(name)``), module by module:

- `example`      ``sunspot_disk``: full-disk continuum image with limb darkening and sunspots (notebook 00)
- `sot`          ``sot``: Hinode/SOT-like H-alpha frames of the five Slic classes (notebooks 01-02);
  ``domain_randomisation=True`` for the randomised frames that transfer to real ones (02's tiny profile)
- `allsky`       ``allsky_ir``: long-wave infrared all-sky camera frames, CIRRUS (notebooks 03, 04, 07)
- `cam5`         ``cam5``: CAM5-like climate fields with TC/AR labels, DeepCAM HDF5 (notebook 05)
- `magnetogram`  ``magnetogram``: HMI-like full-disk magnetograms (FITS/JP2) and a GOES flare list (notebook 06)

A new generator module is listed in ``_MODULES``; every listed module is imported when a generator is
asked for, and an import error is raised, never skipped.
"""
from __future__ import annotations

import importlib

from .base import Sample, SyntheticGenerator, available, get, register  # noqa: F401

# Modules holding generators; importing one registers its generators.
_MODULES = ["example", "sot", "allsky", "cam5", "magnetogram"]


def _load_all() -> None:
    """Import every generator module (a missing or broken one is an error, never a silently absent generator)."""
    for mod in _MODULES:
        importlib.import_module(f"{__name__}.{mod}")
