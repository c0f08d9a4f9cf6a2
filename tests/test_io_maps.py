"""sunpy maps from the readers: WCS and metadata against sunpy's own reader, real files only.

CI installs the ``sunpy`` extra, so there these tests must run: a missing sunpy is an error under ``CI`` and a
skip (with the install command) elsewhere. The missing-sunpy error itself is tested without sunpy.
"""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from solarcnn.errors import DataFileError, OptionalDependencyError
from solarcnn.io import read_fits, read_jp2, read_map, require_sunpy, sunpy_available, to_map

HMI_JP2 = "2023_01_31__03_39_23_200__SDO_HMI_HMI_continuum.jp2"
AIA_JP2 = "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"


def real(dataset, name) -> Path:
    """A real file through the data registry; a registry error fails the test."""
    from solarcnn.data import fetch

    return Path(fetch(dataset, name))


@pytest.fixture
def sunpy_map():
    if os.environ.get("CI"):
        import sunpy.map   # CI installs solarcnn[sunpy]: fail, don't skip

        return sunpy.map
    return pytest.importorskip("sunpy.map", reason="needs sunpy: pip install 'solarcnn[sunpy]'")


def same_sky(m, ref, shape):
    """The two maps put a grid of pixels at the same helioprojective coordinates (to 1e-6 arcsec)."""
    import astropy.units as u

    ys, xs = np.meshgrid(np.linspace(0, shape[0] - 1, 7), np.linspace(0, shape[1] - 1, 7), indexing="ij")
    a = m.pixel_to_world(xs.ravel() * u.pix, ys.ravel() * u.pix)
    b = ref.pixel_to_world(xs.ravel() * u.pix, ys.ravel() * u.pix)
    np.testing.assert_allclose(a.Tx.to_value("arcsec"), b.Tx.to_value("arcsec"), atol=1e-6)
    np.testing.assert_allclose(a.Ty.to_value("arcsec"), b.Ty.to_value("arcsec"), atol=1e-6)


def test_missing_sunpy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sunpy", None)          # import sunpy -> ImportError
    monkeypatch.setitem(sys.modules, "sunpy.map", None)
    assert not sunpy_available()
    with pytest.raises(OptionalDependencyError, match=r"sunpy is needed to .* pip install 'solarcnn\[sunpy\]'"):
        require_sunpy()
    path = real("solar_images", "aia_171_level1.fits")
    with pytest.raises(ImportError, match=r"solarcnn\[sunpy\]"):
        read_map(path)
    with pytest.raises(ImportError, match=r"solarcnn\[sunpy\]"):
        read_fits(path, as_map=True)
    data, header = read_fits(path)                           # the plain readers do not need it
    assert data.shape == (128, 128)


def test_hmi_jp2_map_matches_sunpys_reader(sunpy_map):
    path = real("helioviewer_jp2", HMI_JP2)
    m, ref = read_map(path), sunpy_map.Map(path)
    assert type(m).__name__ == type(ref).__name__ == "HMIMap"
    np.testing.assert_array_equal(m.data, ref.data)          # both origin-lower
    assert m.date == ref.date and m.wavelength == ref.wavelength and m.detector == ref.detector
    same_sky(m, ref, m.data.shape)
    assert read_jp2(path, as_map=True).scale == m.scale


def test_resampled_aia_jp2_map_has_the_scale_of_its_pixels(sunpy_map):
    import astropy.units as u

    path = real("helioviewer_jp2", AIA_JP2)
    m, ref = read_map(path), sunpy_map.Map(path)
    assert type(m).__name__ == "AIAMap" and m.cmap.name == "sdoaia193" and m.wavelength == 193 * u.angstrom
    assert m.scale.axis1.to_value("arcsec / pix") == pytest.approx(0.6 * 4096 / 410)
    assert ref.scale.axis1.to_value("arcsec / pix") == pytest.approx(0.6)   # sunpy keeps the 4096-px header
    # the solar radius in pixels from the map's metadata fits the image (limb-brightening peak at ~158 px)
    r_pix = (m.rsun_obs / m.scale.axis1).to_value("pix")
    assert 150 < r_pix < 165 and 0.5 * m.data.shape[0] > r_pix


def test_hmi_magnetogram_fits_map_matches_sunpys_reader(sunpy_map):
    path = real("hmi_magnetograms", "hmi.sharp_fulldisk_sample_1_TAI.magnetogram.fits")
    m, ref = read_map(path), sunpy_map.Map(path)             # HMI: the image is the compressed HDU 1
    assert type(m).__name__ == "HMIMap" and m.data.dtype == np.float32 and m.data.shape == (4096, 4096)
    np.testing.assert_allclose(m.data, ref.data, atol=1e-3, equal_nan=True)
    same_sky(m, ref, m.data.shape)
    np.testing.assert_allclose(m.rotation_matrix, [[-1, 0], [0, -1]], atol=1e-3)   # CROTA2 ~ 180: stored upside down
    assert m.unit == ref.unit and m.date == ref.date
    m2 = read_fits(path, as_map=True)
    assert m2.reference_pixel == m.reference_pixel and np.array_equal(m2.data, m.data, equal_nan=True)


def test_map_errors(sunpy_map, tmp_path):
    with pytest.raises(DataFileError, match="cube.fits: a sunpy Map needs a 2-D image"):
        to_map(np.zeros((2, 4, 4)), {}, source=tmp_path / "cube.fits")
    with pytest.raises(ValueError, match="hdu is for FITS files"):
        read_map(real("helioviewer_jp2", HMI_JP2), hdu=1)
    with pytest.raises(DataFileError, match="nothing.fits: file not found"):
        read_map(tmp_path / "nothing.fits")
