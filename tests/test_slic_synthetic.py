"""The synthetic SOT generator: format of the real files, determinism, sequences."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from solarcnn import synthetic
from solarcnn.slic import prep


def test_registered_and_real_format(tmp_path):
    gen = synthetic.get("sot", seed=3, frames_per_sequence=2)
    paths = gen.write(tmp_path, 10, progress=False)
    assert [p.parent.name for p in paths[::2]] == ["filaments", "flares", "prominences", "quiet", "sunspots"]
    with fits.open(paths[0]) as h:
        data, hdr = h[0].data, h[0].header
        assert data.dtype == np.dtype(">i2") and data.shape == (512, 512)
    for key in ("TELESCOP", "INSTRUME", "OBS_TYPE", "WAVE", "DATE_OBS", "CDELT1", "CDELT2", "XCEN", "YCEN",
                "FOVX", "FOVY", "DATA_LEV", "EXPTIME"):
        assert key in hdr, key
    assert hdr["INSTRUME"] == "SOT/NB" and hdr["TELESCOP"] == "HINODE" and hdr["CDELT1"] == 0.16
    assert paths[0].name.startswith("FG") and paths[0].name.endswith(".fits.gz")
    assert data.min() > 0  # no zero pixels unless a data gap is asked for


def test_deterministic_and_order_independent():
    a = synthetic.get("sot", seed=7, frames_per_sequence=4)
    b = synthetic.get("sot", seed=7, frames_per_sequence=4)
    np.testing.assert_array_equal(a.sample(13).data, b.sample(13).data)
    b.sample(2)
    np.testing.assert_array_equal(a.sample(5).data, b.sample(5).data)
    assert not np.array_equal(a.sample(5).data, synthetic.get("sot", seed=8, frames_per_sequence=4).sample(5).data)


def test_sequences_are_near_duplicates_and_classes_differ():
    gen = synthetic.get("sot", seed=1, frames_per_sequence=4)
    f0, f1 = (prep.preprocess(gen.sample(i).data, 64).astype(float) for i in (0, 1))
    other = prep.preprocess(gen.sample(4 * 5).data, 64).astype(float)  # next filament sequence
    corr = lambda u, v: np.corrcoef(u.ravel(), v.ravel())[0, 1]  # noqa: E731
    assert corr(f0, f1) > 0.8 > corr(f0, other)
    times = [prep.observation_time(gen.sample(i).meta) for i in range(8)]
    assert prep.sequence_ids(times).tolist() == [0] * 4 + [1] * 4


def test_class_signatures():
    gen = synthetic.get("sot", seed=2, frames_per_sequence=1)
    q = {c: gen.sample(i).data.astype(float) for i, c in enumerate(gen.classes)}
    med = np.median(q["quiet"])
    assert q["sunspots"].min() < 0.4 * med       # dark umbra
    assert q["flares"].max() > 1.8 * med         # bright ribbons
    assert np.percentile(q["prominences"], 10) < 0.3 * med  # dark sky beyond the limb


def test_missing_blocks_are_zero_filled():
    gen = synthetic.get("sot", seed=0, frames_per_sequence=1, missing_block_fraction=1.0)
    s = gen.sample(0)
    assert s.extra["missing_block"] and "zero pixel" in prep.frame_problem(s.data)


@pytest.mark.parametrize("kwargs,match", [({"frames_per_sequence": 0}, "received 0"), ({"size": 10}, "received 10"),
                                          ({"missing_block_fraction": 2.0}, "received 2.0")])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic.get("sot", **kwargs)


def _hdu_layout(path):
    """(type, XTENSION, BITPIX, shape or size, dtype) of every HDU, as astropy reads the file."""
    with fits.open(path) as h:
        out = []
        for hdu in h:
            kind = type(hdu).__name__
            if kind == "NonstandardExtHDU":
                out.append((kind, hdu.header["XTENSION"], hdu.header["BITPIX"], hdu.size, None))
            else:
                out.append((kind, hdu.header.get("XTENSION"), hdu.header["BITPIX"], hdu.data.shape, hdu.data.dtype.str))
        return out


def test_hdu_layout_matches_a_real_sot_file(tmp_path):
    import os
    from pathlib import Path

    os.environ.setdefault("SOLARCNN_DATA_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    from solarcnn.data import fetch

    real = Path(fetch("hinode_sot", "FG20111008_111539.3.fits.gz"))
    synth = synthetic.get("sot", seed=0, frames_per_sequence=1).write(tmp_path, 1, progress=False)[0]
    real_layout, synth_layout = _hdu_layout(real), _hdu_layout(synth)
    assert real_layout == [("PrimaryHDU", None, 16, (512, 512), ">i2"), ("NonstandardExtHDU", "DUMP", 8, 560, None)]
    assert synth_layout == real_layout
    with fits.open(synth) as h:
        h.verify("exception")                              # a valid FITS file, not only readable
        assert h[0].header["EXTEND"] is True
        assert b"synthetic" in h[1].data.tobytes()          # the placeholder says what it is
    data, _ = prep.read_frame(synth)                       # the reader takes HDU0, skipping the DUMP
    assert data.shape == (512, 512)
