"""Full-disk magnetograms: read HMI FITS and Helioviewer JPEG 2000, convert to 512×512 8-bit.

**Orientation convention.** Every array returned here has solar north up when drawn
with ``origin="lower"`` (row 0 = the southern edge, the FITS convention), so
`solarcnn.plotting.imshow_solar` shows it correctly. HMI level-1.5 FITS images
are stored rotated by ``CROTA2`` ≈ 180°; `read_hmi_magnetogram` rotates them
north-up. JPEG 2000 / JPEG images store the top (north) row first; `read_jp2`
flips them to the same convention.

**8-bit conversion** (`magnetogram_to_uint8`, `area_resize`, `CLIP_GAUSS`): the paper's grey encoding of
the field (clip to ±1500 G, map linearly to 0..255, off-disk 0, area-average to 512×512) lives in
`solarcnn.io.hmi`, so the synthetic generator uses it without importing this track; the names are
re-exported here.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..io.fits import read_fits
from ..io.hmi import CLIP_GAUSS, area_resize, magnetogram_to_uint8  # noqa: F401  (their home is io.hmi)
from ..utils import atomic_path


def read_hmi_magnetogram(path: str | os.PathLike, *, north_up: bool = True):
    """Read an HMI line-of-sight magnetogram FITS file (data in the compressed HDU1).

    Args:
        path: e.g. ``hmi.sharp_fulldisk_sample_1_TAI.magnetogram.fits`` (or a synthetic one).
        north_up: rotate by 180° when ``CROTA2`` is near 180 (HMI's storage orientation).

    Returns:
        ``(data, header, extent)``: float32 Gauss with NaN off-disk, the header, and the
        ``(left, right, bottom, top)`` extent in arcsec of the returned array (for `imshow_solar`).

    Raises:
        DataFileError: unreadable file, not 2-D, not in Gauss (``BUNIT``), no finite pixel, or inf pixels.
    """
    path = Path(path)
    data, header = read_fits(path, dtype="float32")
    if data.ndim != 2:
        raise DataFileError(path, f"expected a 2-D magnetogram, found an array of shape {data.shape}")
    bunit = str(header.get("BUNIT", "")).strip().lower()
    if bunit not in ("gauss", "g", "mx/cm^2"):
        raise DataFileError(path, f"BUNIT is {header.get('BUNIT')!r}, not 'Gauss': not a line-of-sight magnetogram")
    if not np.isfinite(data).any():
        raise DataFileError(path, "magnetogram holds no finite pixel (all NaN)")
    n_inf = int(np.isinf(data).sum())
    if n_inf:
        raise DataFileError(path, f"magnetogram holds {n_inf} inf pixel(s) (off-disk pixels are NaN, never inf)")
    ny, nx = data.shape
    cdelt1 = float(header.get("CDELT1", 1.0) or 1.0)
    cdelt2 = float(header.get("CDELT2", 1.0) or 1.0)
    crpix1 = float(header.get("CRPIX1", (nx + 1) / 2))
    crpix2 = float(header.get("CRPIX2", (ny + 1) / 2))
    rot = float(header.get("CROTA2", 0.0) or 0.0)
    if north_up and abs(((rot + 180.0) % 360.0) - 180.0) > 90.0:   # within 90 deg of 180
        data = data[::-1, ::-1].copy()
        crpix1, crpix2 = nx + 1 - crpix1, ny + 1 - crpix2
    extent = ((0.5 - crpix1) * cdelt1, (nx + 0.5 - crpix1) * cdelt1,
              (0.5 - crpix2) * cdelt2, (ny + 0.5 - crpix2) * cdelt2)
    return data, header, extent


def hmi_fits_to_uint8(path: str | os.PathLike, *, clip_gauss: float = CLIP_GAUSS, size: int | None = 512,
                      off_disk: int = 0) -> np.ndarray:
    """Read an HMI (or synthetic HMI-format) FITS magnetogram and convert it; north up, origin lower."""
    data, _, _ = read_hmi_magnetogram(path)
    return magnetogram_to_uint8(data, clip_gauss=clip_gauss, size=size, off_disk=off_disk)


def read_jp2(path: str | os.PathLike, *, grey: bool = True, size: int | None = None) -> np.ndarray:
    """Read a JPEG 2000 (``.jp2``/``.jpx``, through glymur) or JPEG (Pillow) image; north up with origin lower.

    JPEG 2000 files are read by `solarcnn.io.read_jp2`, which also gives the FITS header of Helioviewer's XML
    box (``solarcnn.io.read_jp2(path)`` for ``(data, header)``, ``solarcnn.io.read_map(path)`` for a sunpy Map);
    this function returns the pixels only.

    Args:
        path: the image (Helioviewer ``getJP2Image`` output, or its JPEG conversion).
        grey: return a 2-D 8-bit array (colour images are converted to luminance, ITU-R 601-2 as Pillow's "L").
        size: optional area-average resize to ``size`` × ``size`` (OpenCV ``INTER_AREA``).

    Raises:
        DataFileError: missing, empty, or not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    from ..io.jp2 import is_jpeg2000, read_jp2 as read_jp2_with_header

    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "image file not found")
    if path.stat().st_size == 0:
        raise DataFileError(path, "image file is empty (0 bytes)")
    if is_jpeg2000(path):
        arr, _ = read_jp2_with_header(path)    # already origin-lower
        if grey and arr.ndim == 3:             # Pillow's "L": (19595 R + 38470 G + 7471 B + 2**15) >> 16
            rgb = (arr[..., :3] if arr.shape[-1] >= 3 else np.repeat(arr[..., :1], 3, -1)).astype("uint32")
            arr = ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype("uint8")
    else:
        try:
            with Image.open(path) as im:
                im.load()
                if grey and im.mode != "L":
                    im = im.convert("L")
                arr = np.asarray(im)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DataFileError(path, f"not a readable JPEG 2000/JPEG image ({type(exc).__name__}: {exc})") from exc
        arr = arr[::-1].copy()                 # first stored row is north: flip to origin-lower
    if size is not None:
        if arr.ndim != 2:
            raise ValueError(f"resizing needs a grey image; {path} has shape {arr.shape}")
        arr = np.clip(np.rint(area_resize(arr, size)), 0, 255).astype("uint8")
    return arr


def save_jpeg(path: str | os.PathLike, image_u8: np.ndarray, *, quality: int = 95) -> Path:
    """Write an 8-bit image (origin-lower convention) as a grey JPEG, north row first, atomically."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image_u8, dtype="uint8")[::-1], mode="L").save(tmp, format="JPEG", quality=quality)
    return path
