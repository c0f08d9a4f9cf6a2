"""Full-disk magnetograms: read HMI FITS and Helioviewer JPEG 2000, convert to 512×512 8-bit.

**Orientation convention.** Every array returned here has solar north up when drawn
with ``origin="lower"`` (row 0 = the southern edge, the FITS convention), so
`solarcnn.plotting.imshow_solar` shows it correctly. HMI level-1.5 FITS images
are stored rotated by ``CROTA2`` ≈ 180°; `read_hmi_magnetogram` rotates them
north-up. JPEG 2000 / JPEG images store the top (north) row first; `read_jp2`
flips them to the same convention.

**8-bit conversion** (`magnetogram_to_uint8`). The paper trained on Helioviewer's
8-bit HMI JPEG 2000 images resized to 512×512 with OpenCV ``INTER_AREA``; the
original repository does not document Helioviewer's byte scaling. This package's
documented conversion, used for real and synthetic FITS alike:

1. clip the line-of-sight field to ``[-clip_gauss, +clip_gauss]`` (default ±1500 G);
2. map linearly to 0..255: ``round((B + clip) / (2 clip) * 255)`` (0 G -> 127.5 -> 128);
3. off-disk pixels (NaN in HMI) become ``off_disk`` (default 0, the black background of
   Helioviewer images);
4. area-average to ``size`` × ``size`` (Pillow ``BOX`` filter = OpenCV ``INTER_AREA`` for
   integer factors: 4096 -> 512 averages 8×8 blocks), rounded to uint8.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..io.fits import read_fits

CLIP_GAUSS = 1500.0


def read_hmi_magnetogram(path: str | os.PathLike, *, north_up: bool = True):
    """Read an HMI line-of-sight magnetogram FITS file (data in the compressed HDU1).

    Args:
        path: e.g. ``hmi.sharp_fulldisk_sample_1_TAI.magnetogram.fits`` (or a synthetic one).
        north_up: rotate by 180° when ``CROTA2`` is near 180 (HMI's storage orientation).

    Returns:
        ``(data, header, extent)``: float32 Gauss with NaN off-disk, the header, and the
        ``(left, right, bottom, top)`` extent in arcsec of the returned array (for `imshow_solar`).

    Raises:
        DataFileError: unreadable file, not 2-D, not in Gauss (``BUNIT``), or no finite pixel.
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


def area_resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Area-average resize of a 2-D float image (OpenCV ``INTER_AREA`` for shrinking)."""
    from PIL import Image

    if isinstance(size, int):
        size = (size, size)
    image = np.asarray(image, dtype="float32")
    if image.shape == tuple(size):
        return image.copy()
    h, w = image.shape
    if h % size[0] == 0 and w % size[1] == 0:                    # exact block mean
        return image.reshape(size[0], h // size[0], size[1], w // size[1]).mean(axis=(1, 3))
    out = Image.fromarray(image, mode="F").resize((size[1], size[0]), Image.Resampling.BOX)
    return np.asarray(out, dtype="float32")


def magnetogram_to_uint8(data: np.ndarray, *, clip_gauss: float = CLIP_GAUSS, size: int | None = 512,
                         off_disk: int = 0) -> np.ndarray:
    """Convert a magnetogram in Gauss to the paper's 8-bit grey image (see the module docstring).

    Args:
        data: 2-D field in Gauss, NaN off-disk.
        clip_gauss: symmetric clipping level (> 0).
        size: output side (512 in the paper); None keeps the input size.
        off_disk: grey level of NaN pixels (0..255).

    Returns:
        uint8 array ``(size, size)``, same orientation as `data`.
    """
    data = np.asarray(data, dtype="float32")
    if data.ndim != 2:
        raise ValueError(f"data must be a 2-D magnetogram; received shape {data.shape}")
    if not clip_gauss > 0:
        raise ValueError(f"clip_gauss must be > 0; received {clip_gauss!r}")
    if not 0 <= off_disk <= 255:
        raise ValueError(f"off_disk must be a grey level 0..255; received {off_disk!r}")
    scaled = np.rint((np.clip(data, -clip_gauss, clip_gauss) + clip_gauss) / (2 * clip_gauss) * 255.0)
    scaled = np.where(np.isnan(data), float(off_disk), scaled)
    if size is not None:
        scaled = area_resize(scaled, size)
    return np.clip(np.rint(scaled), 0, 255).astype("uint8")


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".part-" + path.name)
    Image.fromarray(np.asarray(image_u8, dtype="uint8")[::-1], mode="L").save(tmp, format="JPEG", quality=quality)
    os.replace(tmp, path)
    return path
