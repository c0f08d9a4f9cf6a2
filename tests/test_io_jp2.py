"""JPEG 2000 through glymur: pixels, the Helioviewer XML header, resampled copies, errors (real files only)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from solarcnn.errors import DataFileError
from solarcnn.io import read_jp2, read_jp2_header
from solarcnn.io.jp2 import is_jpeg2000

JP2_FILES = ["2013_05_13__16_54_06_137__SOHO_LASCO_C3_white-light.jp2",
             "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2",
             "2022_04_01__00_00_45__SOLO-EUI-FSI_EUI_FSI_174.jp2",
             "2023_01_31__03_39_23_200__SDO_HMI_HMI_continuum.jp2",
             "heliov.jpx"]
HMI_JP2 = "2023_01_31__03_39_23_200__SDO_HMI_HMI_continuum.jp2"
AIA_JP2 = "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"


def real(name) -> Path:
    """A real file through the data registry; a registry error fails the test."""
    from solarcnn.data import fetch

    return Path(fetch("helioviewer_jp2", name))


def radial_profile(img, header):
    """Mean grey level in 1-px rings around the header's reference pixel (disk centre for these files)."""
    ny, nx = img.shape
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot(xx - (header["CRPIX1"] - 1), yy - (header["CRPIX2"] - 1))
    edges = np.arange(0, min(nx, ny) // 2)
    return edges, np.array([img[(r >= k) & (r < k + 1)].mean() for k in edges])


@pytest.mark.parametrize("name", JP2_FILES)
def test_glymur_pixels_equal_pillows_on_every_real_file(name):
    path = real(name)
    assert is_jpeg2000(path)
    data, header = read_jp2(path)
    with Image.open(path) as im:
        ref = np.asarray(im.convert("RGB") if im.mode == "P" else im)[::-1]   # JPX palette -> colour, as glymur
    assert data.dtype == np.uint8 and data.shape == ref.shape
    np.testing.assert_array_equal(data, ref)
    assert header["NAXIS1"] == data.shape[1] and header["NAXIS2"] == data.shape[0] and header["BITPIX"] == 8


def test_header_from_the_helioviewer_xml_box():
    h = read_jp2(real(HMI_JP2))[1]                  # this file's XML keys are lower case
    assert h["INSTRUME"] == "HMI_FRONT2" and h["TELESCOP"] == "SDO" and h["DATE-OBS"] == "2023-01-31T03:39:23.200"
    assert h["CTYPE1"] == "HPLN-TAN" and h["CUNIT1"] == "arcsec" and h["CDELT1"] == pytest.approx(4.80000016)
    assert isinstance(h["QUALITY"], int) and isinstance(h["RSUN_OBS"], float)
    assert "De-rotation: ON" in "".join(h["COMMENT"]) and len(h["HISTORY"]) >= 1   # long text: several cards
    assert "BZERO" not in h and "BSCALE" not in h and "BLANK" not in h     # the original data's scaling
    aia = read_jp2(real(AIA_JP2))[1]                # upper case keys + a <helioviewer> section
    assert aia["WAVELNTH"] == 193 and aia["HV_ROTATION"] == 0.0 and aia["HV_SUPPORTED"] == "TRUE"
    assert all(" " <= ch <= "~" for card in aia.cards for ch in str(card.value))   # tabs in HISTORY replaced


def test_the_header_describes_the_stored_pixels():
    """The disk radius measured in the image matches RSUN_OBS / CDELT1, for an unchanged and a resampled file."""
    hmi, h = read_jp2(real(HMI_JP2))
    assert h["CDELT1"] == read_jp2_header(real(HMI_JP2))["CDELT1"]           # 512 px under a 512-px header
    r, prof = radial_profile(hmi, h)
    limb = r[np.argmax(prof < 0.5 * prof[:20].mean())]                      # where the disk ends
    assert abs(limb - h["RSUN_OBS"] / h["CDELT1"]) < 3

    path = real(AIA_JP2)
    stored = read_jp2_header(path)
    assert (stored["NAXIS1"], stored["CDELT1"], stored["CRPIX1"]) == (4096, 0.6, 2048.5)
    aia, h = read_jp2(path)                         # 410 px under the 4096-px header
    assert aia.shape == (410, 410)
    assert h["CDELT1"] == pytest.approx(0.6 * 4096 / 410) and h["CRPIX1"] == pytest.approx(2048 * 410 / 4096 + 0.5)
    assert any("rescaled" in str(c) for c in h["HISTORY"])
    r, prof = radial_profile(aia, h)
    limb = r[np.argmax(prof)]                       # EUV limb brightening peaks at the limb
    assert abs(limb - h["RSUN_OBS"] / h["CDELT1"]) < 3
    kept = read_jp2(path, rescale=False)[1]
    assert kept["CDELT1"] == 0.6 and kept["NAXIS1"] == 410


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataFileError, match="missing.jp2: image file not found"):
        read_jp2(tmp_path / "missing.jp2")
    (tmp_path / "empty.jp2").write_bytes(b"")
    with pytest.raises(DataFileError, match="empty.jp2: image file is empty"):
        read_jp2(tmp_path / "empty.jp2")
    (tmp_path / "text.jp2").write_bytes(b"not a jpeg 2000 file at all")
    with pytest.raises(DataFileError, match="text.jp2: not a readable JPEG 2000 image"):
        read_jp2(tmp_path / "text.jp2")
    whole = real(HMI_JP2).read_bytes()
    (tmp_path / "boxes_only.jp2").write_bytes(whole[:2000])       # cut inside the XML box
    with pytest.raises(DataFileError, match="boxes_only.jp2: not a readable JPEG 2000 image"):
        read_jp2(tmp_path / "boxes_only.jp2")
    (tmp_path / "truncated.jp2").write_bytes(whole[:30000])       # cut inside the codestream
    with pytest.raises(DataFileError, match="truncated.jp2: JPEG 2000 codestream could not be decoded"):
        read_jp2(tmp_path / "truncated.jp2")


def test_a_jp2_without_xml_header(tmp_path):
    """Plain JPEG 2000 (as Pillow writes, e.g. the synthetic magnetograms): pixels and an empty header."""
    img = (np.arange(64 * 48) % 251).astype("uint8").reshape(48, 64)
    path = tmp_path / "plain.jp2"
    Image.fromarray(img).save(path, format="JPEG2000", irreversible=False)
    data, header = read_jp2(path)
    np.testing.assert_array_equal(data, img[::-1])
    assert len(header) == 0 and read_jp2_header(path) is None
    with pytest.raises(DataFileError, match="plain.jp2: has no FITS header in an XML box"):
        read_jp2(path, as_map=True)


def test_flare_reader_uses_glymur_and_keeps_pillows_grey_levels(tmp_path):
    from solarcnn.flare.images import read_jp2 as flare_read_jp2, save_jpeg

    path = real("heliov.jpx")                       # colour JPX: luminance as Pillow's "L"
    with Image.open(path) as im:
        ref = np.asarray(im.convert("L"))[::-1]
    np.testing.assert_array_equal(flare_read_jp2(path), ref)
    hmi = flare_read_jp2(real(HMI_JP2))
    np.testing.assert_array_equal(hmi, read_jp2(real(HMI_JP2))[0])
    jpg = save_jpeg(tmp_path / "x.jpg", hmi)        # JPEG (not JPEG 2000) still goes through Pillow
    assert not is_jpeg2000(jpg) and np.abs(flare_read_jp2(jpg).astype(int) - hmi).mean() < 2
