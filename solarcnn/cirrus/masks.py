"""Ground-truth cloud masks exactly as CIRRUS made them (``reference/cirrus.md`` §3). Introduced in notebook 04.

Steps: (1) rebin to 128 × 160; (2) divide by 2¹⁴; (3) ``ZScaleInterval(contrast=0.9)`` with clipping to
[0, 1]; (4) ``LogStretch(a=1e5)``, s = log(a·y + 1)/log(a + 1); (5) Otsu threshold, mask = s > t as int8
(1 = cloud). The original writes ``LogStretch(a) + ZScaleInterval(contrast)``; astropy composes ``A + B``
as "B first, then A", so **ZScale runs first**. `stretch(..., order="log_first")` gives the other order,
only to show that it changes the mask.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFileError
from .rebin import BIN, rebin

DR = 2 ** 14


def stretch(image_div, *, contrast: float = 0.9, a_log: float = 1e5, order: str = "zscale_first") -> np.ndarray:
    """The CIRRUS display stretch of a normalised image (counts / 2¹⁴).

    Args:
        image_div: 2-D array of counts divided by 2¹⁴.
        contrast: ZScale contrast (0.9 in CIRRUS).
        a_log: LogStretch ``a`` (1e5 in CIRRUS).
        order: ``"zscale_first"`` (what astropy does with ``LogStretch(a) + ZScaleInterval(c)``, the
            original's behaviour) or ``"log_first"`` (the tempting misreading; for comparison only).
    """
    from astropy.visualization import LogStretch, ZScaleInterval

    img = np.asarray(image_div, dtype=np.float64)
    if order == "zscale_first":
        return np.asarray((LogStretch(a=a_log) + ZScaleInterval(contrast=contrast))(img, clip=True))
    if order == "log_first":
        return np.asarray((ZScaleInterval(contrast=contrast) + LogStretch(a=a_log))(np.clip(img, 0, 1), clip=True))
    raise ValueError(f"order must be 'zscale_first' or 'log_first'; received {order!r}")


def generate_mask(image, *, bin_size=BIN, a_log: float = 1e5, contrast: float = 0.9, order: str = "zscale_first",
                  return_steps: bool = False):
    """The CIRRUS ground-truth mask of one frame of raw counts.

    Args:
        image: 2-D raw counts (ADU); a 512 × 640 frame is first block-averaged to `bin_size`,
            a frame already of that size is used as it is.
        bin_size: working resolution (128, 160).
        a_log, contrast, order: see `stretch`.
        return_steps: also return a dict of the intermediate images (binned, divided, stretched, threshold).

    Returns:
        int8 mask of shape `bin_size`, 1 = cloud, 0 = sky (and the steps if asked).

    Raises:
        ValueError: not 2-D, NaN or inf pixels, or a constant image (before or after the stretch).
    """
    from skimage.filters import threshold_otsu

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"generate_mask expects a 2-D image; received shape {img.shape}")
    bad = int(img.size - np.count_nonzero(np.isfinite(img)))
    if bad:
        raise ValueError(f"generate_mask: the image holds {bad} NaN or inf pixel(s) of {img.size}; "
                         "a mask of it would be meaningless")
    if img.size == 0 or float(img.max()) == float(img.min()):
        value = f"every pixel = {float(img.min()):g}" if img.size else "no pixels"
        raise ValueError(f"generate_mask: the image is constant ({value}); Otsu's threshold is undefined and "
                         "the mask would be all clear")
    binned = img if img.shape == tuple(bin_size) else rebin(img, bin_size)
    div = binned / DR
    s = stretch(div, contrast=contrast, a_log=a_log, order=order)
    if float(np.max(s)) == float(np.min(s)):
        raise ValueError(f"generate_mask: the stretched image is constant ({float(np.min(s)):g}); Otsu's threshold "
                         "is undefined and the mask would be all clear")
    t = float(threshold_otsu(s))
    mask = (s > t).astype(np.int8)
    if return_steps:
        return mask, {"binned": binned, "divided": div, "stretched": s, "threshold": t}
    return mask


def masked_name(path) -> str:
    """``x_flux.fits`` → ``x_masked.fits`` (the original's naming)."""
    name = Path(path).name
    for suffix in ("_flux_binned.fits", "_flux.fits", "_binned.fits", ".fits.gz", ".fits"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + "_masked.fits"
    return name + "_masked.fits"


def generate_mask_file(path, out_dir, *, bin_size=BIN, a_log: float = 1e5, contrast: float = 0.9,
                       overwrite: bool = True) -> Path:
    """Write ``out_dir/<name>_masked.fits``: HDU0 the binned image (float64, header kept), HDU1 the int8 mask
    with ``IMGTYPE='GROUND-TRUTH'``.

    With ``overwrite=False`` an existing output is reused only when its ``SRCKEY`` card (the source's name,
    size and mtime, and every parameter) matches; a stale or corrupt one is made again.

    Raises:
        DataFileError: unreadable file, a frame that is not 2-D / not a multiple of `bin_size`, NaN or inf
            pixels, or a constant frame (no threshold).
    """
    from ..io.fits import read_image, write_image
    from .rebin import check_frame, reusable, source_key

    path = Path(path)
    out = Path(out_dir) / masked_name(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    key = source_key(path, bin=tuple(int(b) for b in bin_size), a_log=float(a_log), contrast=float(contrast),
                     kind="mask")
    if not overwrite and reusable(out, key):
        return out
    data, header = read_image(path, 0, dtype="float64")
    if data.ndim != 2:
        raise DataFileError(path, f"HDU0 has shape {data.shape}; expected a 2-D frame")
    check_frame(path, data)
    if data.shape != tuple(bin_size):
        try:
            data = rebin(data, bin_size)
        except ValueError:
            raise DataFileError(path, f"frame of shape {data.shape} cannot be block-averaged to "
                                      f"{tuple(bin_size)}") from None
    try:
        mask = generate_mask(data, bin_size=bin_size, a_log=a_log, contrast=contrast)
    except ValueError as exc:
        raise DataFileError(path, str(exc).replace("generate_mask: ", "")) from None
    mask_header = {"IMGTYPE": ("GROUND-TRUTH", "ZScale, LogStretch, Otsu; 1 = cloud")}
    return write_image(out, data, header, extra={"SRCKEY": (key, "source name/size/mtime + parameters")},
                       extensions=[(mask, mask_header)])


def generate_masks(paths, out_dir, *, n_jobs: int = 1, progress: bool = True, overwrite: bool = True,
                   **kwargs) -> list[Path]:
    """`generate_mask_file` over many files in parallel (joblib threads, progress bar; see `rebin_files`)."""
    import os

    from ..utils import parallel_map
    from .rebin import check_collisions

    paths = check_collisions(paths, out_dir, masked_name)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    out_dir = os.fspath(out_dir)
    return parallel_map(lambda p: generate_mask_file(p, out_dir, overwrite=overwrite, **kwargs), paths,
                        n_jobs=n_jobs, progress=progress, desc="masks", backend="loky")


def read_masked(path, *, shape=BIN) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``*_masked.fits`` sample: (image / 2¹⁴ as float32, mask as int8).

    Raises:
        DataFileError: missing mask HDU, wrong shapes, or a mask that is not binary.
    """
    from ..io.fits import read_hdus

    path = Path(path)
    hdus = read_hdus(path, max_hdus=2)      # the fast path for plain files, else astropy
    if len(hdus) < 2:
        raise DataFileError(path, f"has {len(hdus)} HDU(s); a masked sample needs the image in HDU0 and the "
                                  "int8 ground-truth mask in HDU1 (make it with generate_mask_file)")
    (img, _), (mask, _) = hdus
    if img is None or mask is None:
        raise DataFileError(path, "HDU0 or HDU1 holds no data")
    return _check_masked(path, img, mask, shape)


def _check_masked(path, img, mask, shape):
    if img.shape != tuple(shape):
        raise DataFileError(path, f"image has shape {img.shape}, expected {tuple(shape)}")
    if not np.isfinite(img).all():
        raise DataFileError(path, f"image holds {int(np.size(img) - np.count_nonzero(np.isfinite(img)))} NaN or "
                                  "inf pixel(s)")
    if mask.shape != img.shape:
        raise DataFileError(path, f"mask shape {mask.shape} differs from image shape {img.shape}")
    values = np.unique(mask)
    if not np.isin(values, (0, 1)).all():
        raise DataFileError(path, f"mask is not binary: values {values[:10].tolist()} (expected 0 and 1)")
    return (img / DR).astype(np.float32), mask.astype(np.int8)
