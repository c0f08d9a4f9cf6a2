"""Robust FITS reading and writing for the course's images.

`astropy.io.fits` is used underneath. These helpers add what a teaching
pipeline needs: one call for ``.fits`` and ``.fits.gz``, the first HDU that
holds an image when none is named (HMI keeps its data in a compressed HDU1),
big-endian integers converted to native floats, and errors that name the file.
"""
from __future__ import annotations

import io
import os
import warnings
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..utils import atomic_path


def _open(path):
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    if path.stat().st_size == 0:
        raise DataFileError(path, "file is empty (0 bytes)")
    source = path
    if path.suffix == ".gz":
        # One-shot zlib is several times faster than the streaming gzip module astropy would use.
        try:
            source = io.BytesIO(zlib.decompress(path.read_bytes(), 16 + zlib.MAX_WBITS))
        except zlib.error as exc:
            raise DataFileError(path, f"corrupt or truncated gzip data ({exc})") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(source, memmap=False)
    except DataFileError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, EOFError ...
        raise DataFileError(path, f"not a readable FITS file ({type(exc).__name__}: {exc})") from exc
    return hdul


def read_fits(path: str | os.PathLike, hdu: int | str | None = None, *, dtype="float32",
              expect_shape: tuple | None = None, allow_nan: bool = True, as_map: bool = False):
    """Read one image HDU; return ``(data, header)`` (or a ``sunpy.map.Map`` with ``as_map=True``).

    Args:
        path: a ``.fits`` or ``.fits.gz`` file.
        hdu: index or EXTNAME of the HDU; None picks the first HDU holding an image.
        dtype: the output dtype (big-endian ``>i2`` becomes native ``float32``).
        expect_shape: if given, the image must have this shape.
        allow_nan: if False, NaN pixels are an error.
        as_map: return ``sunpy.map.Map((data, header))`` instead (`solarcnn.io.maps`; needs sunpy:
            ``pip install 'solarcnn[sunpy]'``).

    Raises:
        DataFileError: missing, empty, truncated or corrupt file, no image HDU,
            wrong shape, NaNs when not allowed; with ``as_map``, a header sunpy cannot use.
        OptionalDependencyError: ``as_map=True`` without sunpy installed.
    """
    path = Path(path)
    hdul = _open(path)
    try:
        if hdu is None:
            index = next((i for i, h in enumerate(hdul)
                          if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) >= 2), None)
            if index is None:
                raise DataFileError(path, f"no image HDU among {len(hdul)} HDU(s) "
                                          f"({', '.join(type(h).__name__ for h in hdul)})")
        else:
            index = hdu
        try:
            h = hdul[index]
        except (IndexError, KeyError):
            raise DataFileError(path, f"has no HDU {index!r}; it has {len(hdul)} HDU(s)") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # e.g. HMI's BLANK on float data: harmless
                data = h.data
        except Exception as exc:
            raise DataFileError(path, f"HDU {index!r} could not be decoded, file truncated or corrupt "
                                      f"({type(exc).__name__}: {exc})") from exc
        if data is None:
            raise DataFileError(path, f"HDU {index!r} holds no data")
        data = np.asarray(data)
        if expect_shape is not None and tuple(data.shape) != tuple(expect_shape):
            raise DataFileError(path, f"image has shape {data.shape}, expected {tuple(expect_shape)}")
        data = data.astype(dtype) if dtype is not None else data
        if not allow_nan and np.issubdtype(data.dtype, np.floating) and np.isnan(data).any():
            raise DataFileError(path, f"image contains {int(np.isnan(data).sum())} NaN pixel(s)")
        header = h.header          # in memory (memmap=False): stays valid after close
    finally:
        hdul.close()
    if as_map:
        from .maps import to_map

        return to_map(data, header, source=path)
    return data, header


def read_fits_image(path, hdu=None, **kwargs) -> np.ndarray:
    """Like `read_fits` but return the data only."""
    return read_fits(path, hdu, **kwargs)[0]


def write_fits(path: str | os.PathLike, data, header=None, *, extra_hdus=(), overwrite: bool = True) -> Path:
    """Write a primary image (plus optional extension HDUs) atomically.

    The file is written under a temporary name and renamed, so an interrupted
    write never leaves a half file with the final name.
    """
    from astropy.io import fits

    path = Path(path)
    hdus = [fits.PrimaryHDU(data=np.asarray(data), header=header)] + list(extra_hdus)
    with atomic_path(path, overwrite=overwrite) as tmp:   # the temporary name keeps .fits.gz: still gzipped
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return path


# -- the fast path for plain files (solarcnn.io.fastfits), astropy for everything else ------------------------
def read_hdus(path: str | os.PathLike, max_hdus: int | None = None) -> list[tuple[np.ndarray | None, object]]:
    """``[(data, header), ...]`` of the file's first `max_hdus` HDUs (all when None): the one multi-HDU reader.

    Plain files go through the fast path (`solarcnn.io.fastfits.read_hdus`: native-order data, `Cards`
    headers); anything else (gzip, compressed or scaled images, tables...) through astropy (astropy
    `Header`s, data as astropy decodes it). ``data`` is None for an HDU without image data (a header-only
    primary, a table).

    Raises:
        DataFileError: missing, empty, truncated or corrupt file (astropy reports what the fast path
            could not read), or an HDU that cannot be decoded.
    """
    from . import fastfits

    path = Path(path)
    try:
        return fastfits.read_hdus(path, max_hdus=max_hdus)
    except (fastfits.NotSimple, DataFileError):
        pass   # astropy decides, and its errors name the file
    hdul = _open(path)
    try:
        out = []
        for i, h in enumerate(hdul):
            if max_hdus is not None and i >= max_hdus:
                break
            data = None
            if getattr(h, "is_image", False):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # e.g. HMI's BLANK on float data: harmless
                        data = h.data
                except Exception as exc:
                    raise DataFileError(path, f"HDU {i} could not be decoded, file truncated or corrupt "
                                              f"({type(exc).__name__}: {exc})") from exc
            out.append((None if data is None else np.asarray(data), h.header))
    finally:
        hdul.close()
    return out


def read_image(path: str | os.PathLike, hdu: int | None = None, *, dtype="float32"):
    """``(data, header)`` of one image HDU, through the fast path when the file is plain, else `read_fits`.

    The header is a read-only `solarcnn.io.fastfits.Cards` mapping (fast path) or an astropy `Header`; both
    answer ``header[key]``, ``header.get(key)`` and ``key in header``. Use it where many small files are read
    (data preparation); the result equals `read_fits`'s (``tests/test_fastfits.py``).

    Raises:
        DataFileError: as `read_fits` (astropy reports what the fast path could not read).
    """
    index = 0 if hdu is None else int(hdu)
    try:
        hdus = read_hdus(path, max_hdus=index + 1)
    except DataFileError:
        hdus = []                  # read_fits names the problem the way it always has
    if index < len(hdus):
        data, header = hdus[index]
        if data is not None and (hdu is not None or data.ndim >= 2):
            return (data.astype(dtype, copy=False) if dtype is not None else data), header
    return read_fits(path, hdu, dtype=dtype)   # no image there: the first image HDU, or a clear error


def write_image(path: str | os.PathLike, data, header=None, *, extra: dict | None = None, extensions=()) -> Path:
    """Write a primary image (+ image extensions ``[(data, header_dict)]``) atomically, fast when possible.

    Args:
        header: the header of a file read with `read_image` (`Cards` or astropy `Header`), a dict, or None.
            Structural keywords (BITPIX, NAXISn, BZERO, BSCALE...) are derived from `data`, never copied.
        extra: ``{key: (value, comment)}`` cards to add or replace.
        extensions: image extensions, each ``(data, {key: value | (value, comment)})``.
    """
    from . import fastfits

    extra = dict(extra or {})
    if header is None or isinstance(header, (fastfits.Cards, dict)):
        try:
            keys = {k.upper() for k in extra}
            cards = [c for c in fastfits.card_images(header) if fastfits.card_keyword(c) not in keys]
            cards += fastfits.card_images(extra)
            return fastfits.write_image(path, data, cards, extensions=extensions)
        except fastfits.NotSimple:
            pass
    from astropy.io import fits

    if isinstance(header, fastfits.Cards):
        hdr = header.to_astropy()
    elif header is None or isinstance(header, dict):
        hdr = fits.Header()
        for k, v in (header or {}).items():
            hdr[k] = v
    else:
        hdr = header.copy()
    for key in ("BZERO", "BSCALE", "BLANK"):
        hdr.remove(key, ignore_missing=True)
    for k, v in extra.items():
        hdr[k] = v
    ext_hdus = []
    for d, h in extensions:
        eh = fits.Header()
        for k, v in (h or {}).items():
            eh[k] = v
        ext_hdus.append(fits.ImageHDU(np.asarray(d), header=eh))
    return write_fits(path, data, hdr, extra_hdus=ext_hdus)
