"""SDO/HMI magnetograms as 8-bit images: the paper's (and Helioviewer's) grey encoding of the field in Gauss.

The paper trained on Helioviewer's 8-bit HMI JPEG 2000 images resized to 512×512 with OpenCV
``INTER_AREA``; the original repository does not document Helioviewer's byte scaling. This package's
documented conversion, used for real and synthetic FITS alike (`solarcnn.flare.images` explains the
orientation convention and re-exports these names):

1. clip the line-of-sight field to ``[-clip_gauss, +clip_gauss]`` (default ±1500 G);
2. map linearly to 0..255: ``round((B + clip) / (2 clip) * 255)`` (0 G -> 127.5 -> 128);
3. off-disk pixels (NaN in HMI) become ``off_disk`` (default 0, the black background of
   Helioviewer images);
4. area-average to ``size`` × ``size`` (Pillow ``BOX`` filter = OpenCV ``INTER_AREA`` for
   integer factors: 4096 -> 512 averages 8×8 blocks), rounded to uint8.

It lives in `io` (layer 1) so that the synthetic magnetogram generator writes its JPEG 2000 files
with the same encoding without importing the flare track.
"""
from __future__ import annotations

import numpy as np

from ..utils import block_mean

CLIP_GAUSS = 1500.0


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
        return block_mean(image, (h // size[0], w // size[1]))
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
    if np.isinf(data).any():
        raise ValueError(f"data holds {int(np.isinf(data).sum())} inf pixel(s); a magnetogram has finite values "
                         "on the disk and NaN off it")
    scaled = np.rint((np.clip(data, -clip_gauss, clip_gauss) + clip_gauss) / (2 * clip_gauss) * 255.0)
    scaled = np.where(np.isnan(data), float(off_disk), scaled)
    if size is not None:
        scaled = area_resize(scaled, size)
    return np.clip(np.rint(scaled), 0, 255).astype("uint8")
