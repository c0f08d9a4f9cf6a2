"""Solar images as ``sunpy.map.Map`` objects: the coordinates, units and colour maps solar physicists expect.

sunpy is optional (``pip install 'solarcnn[sunpy]'``). With it, every reader of this package can hand back a Map::

    from solarcnn.io import read_map
    m = read_map(path)                  # FITS (.fits, .fits.gz, HMI's compressed HDU 1) or JPEG 2000 (.jp2/.jpx)
    m.wcs, m.date, m.scale, m.cmap      # the WCS, observation time, plate scale, the instrument's colour map
    read_fits(path, as_map=True)        # the same through the FITS reader
    read_jp2(path, as_map=True)         # ... and the JPEG 2000 one (header from the Helioviewer XML box)

The pixels come from this package's readers (errors name the file, FITS integers become native float32, JPEG 2000
images are read through glymur with a header that matches the stored pixels, see `solarcnn.io.jp2`), and the
header goes to ``sunpy.map.Map((data, header))``, so the instrument's Map class (``HMIMap``, ``AIAMap`` ...) is
chosen as usual. Without sunpy, `require_sunpy` raises `solarcnn.errors.OptionalDependencyError` saying how to
install it; `sunpy_available` tells without importing it.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

from ..errors import DataFileError, OptionalDependencyError

INSTALL_HINT = "pip install 'solarcnn[sunpy]'   (or: pip install 'sunpy[map,jpeg2000]')"


def sunpy_available() -> bool:
    """True if ``sunpy`` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("sunpy") is not None and importlib.util.find_spec("sunpy.map") is not None
    except (ImportError, ValueError):           # a sys.modules entry of None (tests) or a broken install
        return False


def require_sunpy(needed_for: str = "return a sunpy.map.Map"):
    """Import and return ``sunpy.map``; raise `OptionalDependencyError` with the install command if missing."""
    try:
        import sunpy.map
    except ImportError as exc:
        raise OptionalDependencyError("sunpy", needed_for, INSTALL_HINT) from exc
    return sunpy.map


def to_map(data, header, *, source: str | os.PathLike | None = None):
    """A ``sunpy.map.Map`` of `data` with `header` (astropy Header, `solarcnn.io.fastfits.Cards` or dict).

    Args:
        data: the 2-D image (origin lower, as the FITS standard and this package's readers give it).
        header: its FITS header; it must hold the WCS keywords (``CTYPEi``, ``CDELTi``, ``CRPIXi`` ...).
        source: the file it came from, named in errors.

    Raises:
        OptionalDependencyError: sunpy is not installed.
        DataFileError: the data are not 2-D, or sunpy cannot build a Map from the header.
    """
    smap = require_sunpy()
    import numpy as np

    from .fastfits import Cards

    where = source if source is not None else "<array>"
    data = np.asarray(data)
    if data.ndim != 2:
        raise DataFileError(where, f"a sunpy Map needs a 2-D image; this one has shape {data.shape} "
                                   "(pick one colour plane or codestream first)")
    if isinstance(header, Cards):
        header = header.to_astropy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # sunpy's metadata warnings (missing observer keys ...)
            return smap.Map((data, header))
    except Exception as exc:                    # sunpy raises ValueError, TypeError, NoMatchError ...
        raise DataFileError(where, f"sunpy could not build a Map from this header "
                                   f"({type(exc).__name__}: {exc})") from exc


def read_map(path: str | os.PathLike, hdu: int | str | None = None, *, dtype="float32"):
    """Read a FITS or JPEG 2000 solar image as a ``sunpy.map.Map`` (format from the file's first bytes).

    Args:
        path: ``.fits``/``.fits.gz`` (HMI's compressed HDU 1 included) or ``.jp2``/``.jpx``.
        hdu: FITS only: the HDU (None: the first holding an image).
        dtype: FITS only: the data type of the Map's array (``None`` keeps the file's).

    Raises:
        OptionalDependencyError: sunpy is not installed (the message says how to install it).
        DataFileError: as `solarcnn.io.read_fits` / `solarcnn.io.read_jp2`, or no WCS for a Map.
    """
    from .jp2 import is_jpeg2000, read_jp2

    require_sunpy()
    path = Path(path)
    if path.exists() and path.stat().st_size > 0 and is_jpeg2000(path):
        if hdu is not None:
            raise ValueError(f"hdu is for FITS files; {path} is JPEG 2000 (received hdu={hdu!r})")
        return read_jp2(path, as_map=True)
    from .fits import read_fits

    return read_fits(path, hdu, dtype=dtype, as_map=True)
