"""JPEG 2000 solar images with their FITS header, read through glymur.

Helioviewer's JPEG 2000 files (``getJP2Image``, and the ``.jp2``/``.jpx`` files in ``solar_fulldisk``) hold an
8-bit picture of an observation and, in an XML box, the observation's original FITS header
(``<meta><fits><KEY>value</KEY>...</fits><helioviewer>...</helioviewer></meta>``). `read_jp2` returns both:
the pixels (origin lower, so solar north is up with ``imshow(origin="lower")``, as sunpy does) and an astropy
`~astropy.io.fits.Header` built from the XML, ready for `astropy.wcs.WCS` or `sunpy.map.Map`
(``as_map=True``, see `solarcnn.io.maps`).

Why glymur: it parses the JP2 box structure itself (Pillow decodes the pixels but drops the XML box) and decodes
with the OpenJPEG library (``libopenjp2``; ``apt-get install libopenjp2-7`` or conda's ``openjpeg``). Its
pixels are identical to Pillow's on every real file in the registry (``tests/test_io_jp2.py``).

**The header describes the pixels returned.** The XML holds the header of the full-resolution FITS image;
resampled copies (two of the real files: AIA 193 Å is 410 px wide under a 4096-px header, LASCO C3 102 px under
1024) keep it unchanged, so their plate scale would be 10x wrong. When the stored size differs from
``NAXIS1``/``NAXIS2``, `read_jp2` rescales ``CDELTi`` (and ``CDi_j``) by the size ratio and moves ``CRPIXi`` to
the same point of the sky (``HISTORY`` says so); ``rescale=False`` keeps the header as stored, which is what
``sunpy.map.Map(path)`` uses. ``NAXISn`` and ``BITPIX`` describe the returned array; ``BZERO``/``BSCALE``/
``BLANK`` (the original data's scaling, not the 8-bit picture's) are dropped.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataFileError, OptionalDependencyError

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_CODESTREAM = b"\xff\x4f\xff\x51"
_STRUCTURAL = ("BZERO", "BSCALE", "BLANK")


def is_jpeg2000(path: str | os.PathLike) -> bool:
    """True if the file starts with the JP2/JPX signature box or a raw JPEG 2000 codestream marker."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head == JP2_SIGNATURE or head[:4] == J2K_CODESTREAM


def _glymur():
    try:
        import glymur
    except ImportError as exc:                       # pragma: no cover - glymur is a core dependency
        raise OptionalDependencyError("glymur", "read JPEG 2000 files", "pip install glymur") from exc
    return glymur


def _check(path: Path) -> None:
    if not path.exists():
        raise DataFileError(path, "image file not found")
    if path.stat().st_size == 0:
        raise DataFileError(path, "image file is empty (0 bytes)")


def _open(path: Path):
    glymur = _glymur()
    _check(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # glymur warns about unknown or odd boxes
            return glymur.Jp2k(str(path))
    except Exception as exc:                         # glymur raises OSError, RuntimeError, struct.error ...
        raise DataFileError(path, f"not a readable JPEG 2000 image ({type(exc).__name__}: {exc})") from exc


def _printable(text: str) -> str:
    """FITS cards hold printable ASCII only: tabs and newlines become spaces, anything else becomes '?'."""
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _value(text: str):
    """A FITS value from XML text: int, float or string (newlines become spaces), as sunpy reads it."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return _printable(text)


def _xml_boxes(boxes):
    for box in boxes:
        if box.box_id == "xml ":
            yield box
        yield from _xml_boxes(getattr(box, "box", None) or [])


def _fits_element(jp2):
    """The first ``<fits>`` element of the file's XML boxes and that box's root (or None, None)."""
    for box in _xml_boxes(jp2.box):
        xml = getattr(box, "xml", None)
        if xml is None:
            continue
        root = xml.getroot() if hasattr(xml, "getroot") else xml
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag.lower() == "fits":
                return element, root
    return None, None


def _header_from_xml(fits_element, root):
    """An astropy Header from the ``<fits>`` keywords, then the Helioviewer ones (``HV_*``), as sunpy reads them."""
    from astropy.io import fits

    header = fits.Header()
    inside = set(fits_element.iter())
    elements = list(fits_element) + [e for e in root.iter() if e not in inside]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # long keywords become HIERARCH cards
        for element in elements:
            if not isinstance(element.tag, str) or len(element):
                continue                             # XML comments, <meta>, <helioviewer>: no keyword
            key = element.tag.upper()
            if key in ("HISTORY", "COMMENT"):
                lines = [element.attrib.get("comment", "")] + (element.text or "").splitlines()
                for line in (_printable(ln).strip() for ln in lines):
                    if line:
                        header.add_history(line) if key == "HISTORY" else header.add_comment(line)
                continue
            if element.text is None or key in _STRUCTURAL:
                continue
            value = _value(element.text)
            comment = element.attrib.get("comment", "")
            try:
                header[key] = (value, comment) if comment else value
            except (ValueError, KeyError):           # a NaN, or a tag that is no FITS keyword
                try:
                    header[key] = _printable(str(value))
                except (ValueError, KeyError):
                    header.add_comment(f"solarcnn.io.read_jp2: XML tag {_printable(element.tag)!r} is not a "
                                       f"FITS keyword; its value was {_printable(str(value))!r}")
    return header


def _rescale(header, shape, path) -> None:
    """Make CDELT/CD/CRPIX describe an image resampled from ``NAXIS1 x NAXIS2`` to `shape` (rows, cols)."""
    ny, nx = shape[:2]
    n1, n2 = header.get("NAXIS1"), header.get("NAXIS2")
    if not isinstance(n1, (int, float)) or not isinstance(n2, (int, float)) or (n1, n2) == (nx, ny):
        return
    f1, f2 = n1 / nx, n2 / ny                        # original pixels per stored pixel, per axis
    for i, f in ((1, f1), (2, f2)):
        if f"CDELT{i}" in header:
            header[f"CDELT{i}"] = float(header[f"CDELT{i}"]) * f
        if f"CRPIX{i}" in header:                    # pixel edges: 0.5 stays 0.5
            header[f"CRPIX{i}"] = (float(header[f"CRPIX{i}"]) - 0.5) / f + 0.5
        for j in (1, 2):
            if f"CD{j}_{i}" in header:               # CDj_i scales with axis i
                header[f"CD{j}_{i}"] = float(header[f"CD{j}_{i}"]) * f
    header.add_history(f"solarcnn.io.read_jp2: {Path(path).name} stores {nx}x{ny} px of a {n1}x{n2} px image; "
                       f"CDELT/CD/CRPIX rescaled by {f1:.6g} x {f2:.6g}")


def read_jp2_header(path: str | os.PathLike):
    """The FITS header in a JPEG 2000 file's XML box, as stored (no rescaling), or None if it has none."""
    path = Path(path)
    jp2 = _open(path)
    element, root = _fits_element(jp2)
    return None if element is None else _header_from_xml(element, root)


def read_jp2(path: str | os.PathLike, *, rescale: bool = True, as_map: bool = False):
    """Read a JPEG 2000 (``.jp2``/``.jpx``) image and the FITS header in its XML box.

    Args:
        path: a Helioviewer ``getJP2Image`` file or any JP2/JPX (the first codestream is read).
        rescale: make ``CDELT``/``CRPIX`` describe the stored pixels when the image was resampled from the
            size the header gives (see the module docstring); False keeps the header as stored.
        as_map: return a ``sunpy.map.Map`` (needs sunpy: ``pip install 'solarcnn[sunpy]'``).

    Returns:
        ``(data, header)``: ``data`` as stored (``uint8``, 2-D grey or 3-D colour) with the first stored row
        (north) last, so ``origin="lower"`` shows north up; ``header`` an astropy Header (empty when the file
        has no FITS header in XML). With ``as_map=True``, the Map instead.

    Raises:
        DataFileError: missing, empty or undecodable file; ``as_map=True`` on a file without a FITS header.
        OptionalDependencyError: OpenJPEG (for the pixels) or sunpy (for ``as_map``) is not installed.
    """
    from astropy.io import fits

    path = Path(path)
    jp2 = _open(path)
    glymur = _glymur()
    if glymur.version.openjpeg_version == "0.0.0":                 # glymur found no libopenjp2
        raise OptionalDependencyError("OpenJPEG (libopenjp2)", f"decode {path}",
                                      "apt-get install libopenjp2-7 (Debian/Ubuntu) or conda install openjpeg")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = np.asarray(jp2[:])
    except Exception as exc:
        raise DataFileError(path, f"JPEG 2000 codestream could not be decoded, file truncated or corrupt "
                                  f"({type(exc).__name__}: {exc})") from exc
    data = np.ascontiguousarray(data[::-1])            # first stored row is north: flip to origin-lower
    element, root = _fits_element(jp2)
    header = fits.Header() if element is None else _header_from_xml(element, root)
    if element is not None:
        if rescale:
            _rescale(header, data.shape, path)
        header["BITPIX"] = 8 * data.dtype.itemsize
        header["NAXIS"] = 2
        header["NAXIS1"], header["NAXIS2"] = int(data.shape[1]), int(data.shape[0])
    if as_map:
        if element is None:
            raise DataFileError(path, "has no FITS header in an XML box, so no coordinates for a sunpy Map "
                                      "(read it with as_map=False)")
        from .maps import to_map

        return to_map(data, header, source=path)
    return data, header
