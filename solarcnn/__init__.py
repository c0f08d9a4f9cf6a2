"""solarcnn: deep learning on solar and Earth-science imagery, in Keras 3.

The numbered notebooks in ``notebooks/`` teach; this package holds what they
reuse. Start with ``solarcnn.setup(seed=...)``. Sub-packages, in layers that import only downhill
(CONTRIBUTING.md, "Where things live"):

- ``solarcnn.models``     model builders (``build_slic``, ``build_cirrus_unet``, ...)
- ``solarcnn.metrics``    skill scores and segmentation metrics
- ``solarcnn.data``       the data registry (manifests, cache, mirror)
- ``solarcnn.synthetic``  generators writing data in the real on-disk formats
- ``solarcnn.io``         every file format, read and written robustly (FITS, JPEG 2000, GOES lists, ...)
- ``solarcnn.training``   losses, schedules and optimisers shared by the tracks
- ``solarcnn.slic`` / ``cirrus`` / ``deepcam`` / ``flare``   one track each
- ``solarcnn.course``     the course tooling: notebook runner, book builder, the ``solarcnn`` command
- ``solarcnn.exercises``  the notebooks' self-checking exercises (``solarcnn.exercises.check("02.1", ...)``)
"""
from __future__ import annotations

from ._version import __version__  # noqa: F401
from .data.registry import use_generators as _use_generators
from .errors import ChecksumError, DataFileError, ManifestError, ParameterError, SolarCNNError  # noqa: F401
from .profiles import load as profile  # noqa: F401
from .results import record, say  # noqa: F401
from .runtime import setup  # noqa: F401
from .utils import work_dir  # noqa: F401


def _synthetic_generator(name: str, **options):
    """``solarcnn.synthetic.get``, imported when a derived data set is first built (not at ``import solarcnn``)."""
    from . import synthetic

    return synthetic.get(name, **options)


# The data registry (layer 2) builds derived sets with the generators of layer 3: the top floor connects them.
_use_generators(_synthetic_generator)


def __getattr__(name: str):
    """``solarcnn.exercises`` (the self-checking exercises, `solarcnn.course.exercises`), imported on first use."""
    if name == "exercises":
        from .course import exercises

        return exercises
    raise AttributeError(f"module 'solarcnn' has no attribute {name!r}")

__all__ = ["setup", "record", "say", "profile", "work_dir", "__version__", "SolarCNNError", "DataFileError",
           "ChecksumError", "ManifestError", "ParameterError"]
