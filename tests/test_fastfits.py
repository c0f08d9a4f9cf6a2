"""The fast FITS path (solarcnn.io.fastfits) gives what astropy gives, or steps aside (NotSimple)."""
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from solarcnn.data import fetch
from solarcnn.errors import DataFileError
from solarcnn.io import fastfits, read_fits, read_image

SOT = ["FG20111008_111533.0.fits.gz", "FG20111008_112033.3.fits.gz"]
# Which path each real file takes, measured: the fast path reads plain images; it steps aside (NotSimple) for
# the AIA cutout (a BINTABLE before the image) and the IRIS slit-jaw (scaled data, BSCALE/BZERO).
SOLAR = {"aia_171_cutout.fits": "astropy", "bbso_halpha_20020430_165555_cleaned.fits": "fast",
         "dkist_photosphere.fits": "fast", "efz20040301.000010_s.fits": "fast",
         "iris_l2_20130801_074720_4040000014_SJI_1400_t000.fits": "astropy"}


def _first_image(path):
    """Index of the first HDU holding an image, by astropy."""
    with fits.open(path) as hdul:
        return next(i for i, h in enumerate(hdul) if h.is_image and h.header.get("NAXIS", 0) >= 2)


@pytest.mark.parametrize("name", SOT)
def test_real_sot_files_match_astropy(name):
    path = Path(fetch("hinode_sot", name))
    data, cards = fastfits.read_image(path, dtype="float64")
    ref, hdr = read_fits(path, 0, dtype="float64")
    np.testing.assert_array_equal(data, ref)
    for key in hdr:
        if key in ("COMMENT", "HISTORY", "") or isinstance(hdr[key], fits.card.Undefined):
            continue
        assert cards[key] == hdr[key], key


@pytest.mark.parametrize("name", sorted(SOLAR))
def test_real_solar_files_match_astropy_or_step_aside(name):
    """Each file takes the path the table says; either way `io.read_image` gives astropy's pixels."""
    path = Path(fetch("solar_images", name))
    index = _first_image(path)
    ref, hdr = read_fits(path, index, dtype=None)
    if SOLAR[name] == "astropy":
        with pytest.raises(fastfits.NotSimple):           # steps aside: nothing is guessed
            fastfits.read_image(path, index, dtype=None)
    else:
        data, cards = fastfits.read_image(path, index, dtype=None)
        assert data.dtype == ref.dtype.newbyteorder("=")
        np.testing.assert_array_equal(data, ref)
        assert cards.get("NAXIS1") == hdr["NAXIS1"]
    data, header = read_image(path, index, dtype=None)    # the public reader: fast path or astropy fallback
    assert isinstance(header, fastfits.Cards) == (SOLAR[name] == "fast")
    np.testing.assert_array_equal(data, ref)


def test_compressed_hmi_steps_aside():
    path = Path(fetch("hmi_magnetograms", "hmi.sharp_fulldisk_sample_1_TAI.magnetogram.fits"))
    with pytest.raises((fastfits.NotSimple, DataFileError)):
        fastfits.read_image(path, 1)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "uint16", "int32", "float32", "float64"])
def test_write_then_astropy_reads_the_same(tmp_path, dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    data = (rng.integers(info.min, info.max, (7, 5), endpoint=True).astype(dtype) if info
            else rng.standard_normal((7, 5)).astype(dtype))
    if dtype == "uint16":
        with pytest.raises(fastfits.NotSimple):       # astropy writes these with BZERO; no fast path here
            fastfits.write_image(tmp_path / "x.fits", data)
        return
    header = {"OBSERVER": ("O'Brien", "a quote inside"), "EXPTIME": (0.25, "[s]"), "FLAG": True, "N": -3}
    path = fastfits.write_image(tmp_path / "x.fits", data, header,
                                extensions=[(np.arange(6, dtype=np.int8).reshape(2, 3), {"IMGTYPE": "MASK"})])
    with fits.open(path) as hdul:
        hdul.verify("exception")
        np.testing.assert_array_equal(hdul[0].data, data)
        assert hdul[0].data.dtype == np.dtype(dtype).newbyteorder(">") or dtype in ("int8", "uint8")
        assert hdul[0].header["OBSERVER"] == "O'Brien" and hdul[0].header.comments["EXPTIME"] == "[s]"
        assert hdul[0].header["FLAG"] is True and hdul[0].header["N"] == -3 and hdul[0].header["EXPTIME"] == 0.25
        np.testing.assert_array_equal(hdul[1].data, np.arange(6, dtype=np.int8).reshape(2, 3))
        assert hdul[1].header["IMGTYPE"] == "MASK"
    back = fastfits.read_hdus(path)
    np.testing.assert_array_equal(back[0][0], data)
    assert back[0][0].dtype == np.dtype(dtype) and back[1][0].dtype == np.int8
    assert back[0][1]["OBSERVER"] == "O'Brien" and back[0][1].comment("OBSERVER") == "a quote inside"


def test_astropy_written_files_read_back(tmp_path):
    u16 = np.arange(0, 65535, 1000, dtype=np.uint16).reshape(-1, 1)
    i8 = np.array([[-128, -1, 0, 127]], dtype=np.int8)
    path = tmp_path / "a.fits"
    fits.HDUList([fits.PrimaryHDU(u16), fits.ImageHDU(i8)]).writeto(path)
    (d0, _), (d1, _) = fastfits.read_hdus(path)
    assert d0.dtype == np.uint16 and d1.dtype == np.int8
    np.testing.assert_array_equal(d0, u16)
    np.testing.assert_array_equal(d1, i8)


def test_copied_header_drops_structural_keywords(tmp_path):
    src = tmp_path / "src.fits"
    hdr = fits.Header({"DATE-OBS": "2023-01-01T00:00:00", "BUNIT": "ADU"})
    fits.PrimaryHDU(np.zeros((4, 4), np.int16), header=hdr).writeto(src)
    data, cards = fastfits.read_image(src, dtype="float64")
    out = fastfits.write_image(tmp_path / "out.fits", data, cards)
    h = fits.getheader(out)
    assert h["BITPIX"] == -64 and h["DATE-OBS"] == "2023-01-01T00:00:00" and h["BUNIT"] == "ADU"
    assert list(h.keys()).count("BITPIX") == 1 and "BZERO" not in h


def test_blank_and_scaled_data_step_aside(tmp_path):
    p1 = tmp_path / "blank.fits"
    h = fits.PrimaryHDU(np.zeros((3, 3), np.int16))
    h.header["BLANK"] = -32768
    h.writeto(p1)
    with pytest.raises(fastfits.NotSimple):
        fastfits.read_image(p1)
    p2 = tmp_path / "scaled.fits"
    h = fits.PrimaryHDU(np.zeros((3, 3), np.int16))
    h.header["BSCALE"] = 0.5
    h.writeto(p2)
    with pytest.raises(fastfits.NotSimple):
        fastfits.read_image(p2)


def test_truncated_file_names_it(tmp_path):
    p = tmp_path / "t.fits"
    fits.PrimaryHDU(np.ones((100, 100), np.float32)).writeto(p)
    p.write_bytes(p.read_bytes()[:2880 + 1000])
    with pytest.raises(DataFileError) as err:
        fastfits.read_image(p)
    assert str(p) in str(err.value) and "truncated" in str(err.value)
    p.write_bytes(b"SIMPLE  =" + b" " * 100)
    with pytest.raises(DataFileError, match="END"):
        fastfits.read_image(p)


def test_not_fits_steps_aside(tmp_path):
    p = tmp_path / "x.fits"
    p.write_bytes(b"hello world" * 300)
    with pytest.raises(fastfits.NotSimple):
        fastfits.read_image(p)


def test_format_card_layout():
    card = fastfits.format_card("NAXIS1", 640, "length of axis")
    assert len(card) == 80 and card[:30] == "NAXIS1  =                  640"
    s = fastfits.format_card("TELESCOP", "SOT", "")
    assert s.startswith("TELESCOP= 'SOT     '")
    with pytest.raises(fastfits.NotSimple):
        fastfits.format_card("TOOLONGKEY", 1)


def test_read_hdus_is_one_reader_for_plain_and_other_files(tmp_path):
    """io.fits.read_hdus: plain files through the fast path (Cards), a compressed one through astropy, same data."""
    from solarcnn.io.fits import read_hdus, write_fits

    img = np.arange(12, dtype=np.int16).reshape(3, 4)
    mask = (img % 2).astype(np.int16)
    plain = fastfits.write_image(tmp_path / "x.fits", img, {"A": 1}, extensions=[(mask, {"B": 2})])
    packed = write_fits(tmp_path / "y.fits", img, fits.Header([("A", 1)]),
                        extra_hdus=[fits.CompImageHDU(mask, fits.Header([("B", 2)]))])
    with pytest.raises(fastfits.NotSimple):
        fastfits.read_hdus(packed)
    for path, fast in ((plain, True), (packed, False)):
        hdus = read_hdus(path)
        assert len(hdus) == 2 and isinstance(hdus[0][1], fastfits.Cards) == fast
        np.testing.assert_array_equal(hdus[0][0], img)
        np.testing.assert_array_equal(hdus[1][0], mask)
        assert hdus[0][1]["A"] == 1 and hdus[1][1]["B"] == 2
        assert len(read_hdus(path, max_hdus=1)) == 1
    with pytest.raises(DataFileError, match="x.fits"):
        read_hdus(tmp_path / "missing" / "x.fits")


def test_gunzip_is_isal_with_the_same_bytes_as_zlib_and_falls_back(tmp_path, monkeypatch):
    """io.fastfits.gunzip uses ISA-L (a dependency) and gives zlib's bytes; without isal it is zlib; corrupt data
    is a zlib.error either way, which file_bytes turns into a DataFileError naming the file."""
    import gzip
    import zlib

    import isal  # noqa: F401  a declared dependency (pyproject): missing, this test fails

    assert fastfits._inflate_lib is not zlib
    payload = np.random.default_rng(0).integers(0, 60, 300_000, dtype=np.uint8).tobytes()
    packed = gzip.compress(payload)
    assert fastfits.gunzip(packed) == zlib.decompress(packed, 31) == payload
    with pytest.raises(zlib.error):
        fastfits.gunzip(packed[:1000])
    bad = tmp_path / "cut.fits.gz"
    bad.write_bytes(packed[:1000])
    with pytest.raises(DataFileError, match=r"cut\.fits\.gz.*corrupt or truncated gzip"):
        fastfits.file_bytes(bad)
    monkeypatch.setattr(fastfits, "_inflate_lib", zlib)
    assert fastfits.gunzip(packed) == payload
    with pytest.raises(zlib.error):
        fastfits.gunzip(packed[:1000])
