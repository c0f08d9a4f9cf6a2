"""Slic preparation: faithful steps (spec slic.md §4, §11), real SOT frames, grouped split, bad input."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from solarcnn.errors import DataFileError
from solarcnn.slic import prep

SOT_FILES = ["FG20111008_111533.0.fits.gz", "FG20111008_111539.3.fits.gz", "FG20111008_112033.3.fits.gz"]


def _sot(name: str) -> Path:
    """A real Hinode/SOT example file, through the data registry (mirror in tests)."""
    os.environ.setdefault("SOLARCNN_DATA_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    from solarcnn.data import fetch

    return Path(fetch("hinode_sot", name))


def test_bytescale_rounds_half_up():
    assert prep.bytescale(np.array([10, 11, 12, 14])).tolist() == [0, 64, 128, 255]


def test_bytescale_rejects_constant_and_nan():
    with pytest.raises(ValueError, match="constant"):
        prep.bytescale(np.full((4, 4), 3.0))
    with pytest.raises(ValueError, match="NaN"):
        prep.bytescale(np.array([1.0, np.nan]))


def test_frame_problem_rules():
    ok = np.arange(1, 17, dtype=float).reshape(4, 4)
    assert prep.frame_problem(ok) is None
    z = ok.copy()
    z[0, 0] = 0
    assert "zero pixel" in prep.frame_problem(z)
    n = ok.copy()
    n[1, 1] = np.nan
    assert "NaN" in prep.frame_problem(n)
    assert "blank" in prep.frame_problem(np.full((4, 4), 5.0))


def test_faithful_split_rule():
    mask = prep.faithful_split(25, 10)
    assert np.flatnonzero(mask).tolist() == [0, 10, 20]
    assert (~mask).sum() == 22
    with pytest.raises(ValueError, match="received '10'"):
        prep.faithful_split(25, "10")


@pytest.mark.parametrize("name,vmin,vmax,mean,waveoff", [
    ("FG20111008_111533.0.fits.gz", 97, 654, 545.3, -160),
    ("FG20111008_111539.3.fits.gz", 236, 570, 439.0, 0),
    ("FG20111008_112033.3.fits.gz", 249, 664, 555.3, -160)])
def test_real_sot_frame_and_header(name, vmin, vmax, mean, waveoff):
    from astropy.io import fits

    path = _sot(name)
    with fits.open(path) as h:
        assert h[0].data.dtype == np.dtype(">i2") and h[0].data.shape == (512, 512)
        hdr = h[0].header
    assert hdr["WAVE"] == "TF Fe I 5576" and hdr["INSTRUME"] == "SOT/NB" and hdr["DATA_LEV"] == 0
    assert hdr["WAVEOFF"] == waveoff
    data, meta = prep.read_frame(path)
    assert data.dtype == np.float64 and data.min() == vmin and data.max() == vmax
    assert abs(data.mean() - mean) < 0.06
    assert prep.frame_problem(data) is None  # no zero pixel: passes the original's filter


def test_real_sot_preprocessing_matches_independent_computation():
    """Byte-scale + Pillow bicubic, recomputed here from the raw bytes with gzip + NumPy + Pillow."""
    from PIL import Image

    path = _sot("FG20111008_111539.3.fits.gz")
    raw = gzip.decompress(path.read_bytes())
    # primary header: 2880-byte blocks until the END card
    n_blocks = 1
    while b"END" + b" " * 77 not in raw[(n_blocks - 1) * 2880:n_blocks * 2880]:
        n_blocks += 1
    pix = np.frombuffer(raw[n_blocks * 2880:n_blocks * 2880 + 512 * 512 * 2], dtype=">i2").reshape(512, 512)
    x = pix.astype(np.float64)
    u8 = np.floor((x - 236.0) / (570.0 - 236.0) * 255.0 + 0.5).astype(np.uint8)
    expected = np.asarray(Image.fromarray(u8).resize((256, 256), Image.BICUBIC))
    data, _ = prep.read_frame(path)
    got = prep.preprocess(data, 256)
    assert got.dtype == np.uint8 and got.shape == (256, 256)
    np.testing.assert_array_equal(prep.bytescale(data), u8)
    np.testing.assert_array_equal(got, expected)


def test_sequence_ids_split_the_two_real_scans():
    from solarcnn.data import fetch

    times = []
    for path in sorted(Path(fetch("hinode_sot")).glob("FG*.fits.gz")):   # the whole set, not one file
        _, meta = prep.read_frame(path)
        times.append(prep.observation_time(meta))
    ids = prep.sequence_ids(times, max_gap_s=60)
    assert len(ids) == 18 and ids.tolist() == [0] * 9 + [1] * 9


def test_grouped_split_keeps_groups_whole():
    labels = np.repeat([0, 1], 30)
    groups = np.repeat(np.arange(12), 5)
    val = prep.grouped_split(labels, groups, val_fraction=0.2, seed=3)
    for g in np.unique(groups):
        assert len(set(val[groups == g])) == 1
    assert set(labels[val]) == {0, 1}
    assert prep.grouped_split(labels, groups, val_fraction=0.2, seed=3).tolist() == val.tolist()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """2 sequences × 3 frames per class of synthetic frames, one with a zero-filled gap, one corrupt file."""
    from solarcnn.slic.data import write_synthetic_sot

    root = tmp_path_factory.mktemp("sot")
    write_synthetic_sot(root, n_sequences=2, frames_per_sequence=3, seed=5, missing_block_fraction=0.0)
    # one frame with a data gap (zero pixels) and one truncated file
    from astropy.io import fits

    victim = sorted((root / "quiet").glob("*.fits.gz"))[1]
    with fits.open(victim) as h:
        d = h[0].data.copy()
        hdr = h[0].header.copy()
    d[10:20] = 0
    fits.writeto(victim, d, hdr, overwrite=True)
    bad = root / "sunspots" / "FG29990101_000000.0.fits.gz"
    bad.write_bytes(gzip.compress(b"SIMPLE  =                    T" + b" " * 50)[:40])
    return root


def test_prepare_directory_reports_skips_and_failures_and_resumes(tiny_dataset, tmp_path):
    dst = tmp_path / "prep"
    with pytest.warns(UserWarning, match="FG29990101_000000.0.fits.gz"):
        rep = prep.prepare_directory(tiny_dataset, dst, size=32, n_jobs=1, progress=False)
    assert len(rep.processed) == 29 and len(rep.skipped) == 1 and len(rep.failed) == 1
    (bad, msg), = rep.failed.items()
    assert bad.endswith("FG29990101_000000.0.fits.gz") and "FG29990101_000000.0.fits.gz" in msg
    assert "zero pixel" in next(iter(rep.skipped.values()))
    assert "FAILED  FG29990101_000000.0.fits.gz" in str(rep)
    with pytest.warns(UserWarning):
        rep2 = prep.prepare_directory(tiny_dataset, dst, size=32, n_jobs=1, progress=False)
    assert rep2.processed == [] and len(rep2.reused) == 30 and len(rep2.skipped) == 1


def test_assemble_faithful_and_grouped(tiny_dataset, tmp_path):
    dst = tmp_path / "prep"
    with pytest.warns(UserWarning):
        prep.prepare_directory(tiny_dataset, dst, size=32, n_jobs=1, progress=False)
    f = prep.assemble(tiny_dataset, dst, split="faithful", percent_split=10)
    # per class files 0..5 (sunspots 0..6 with the corrupt one last): index 0 to validation
    assert len(f.y_val) == 5 and sorted(f.y_val.tolist()) == [0, 1, 2, 3, 4]
    assert f.x_train.dtype == np.float32 and f.x_train.shape[1:] == (32, 32, 1)
    assert 0 <= f.x_train.min() and f.x_train.max() <= 255
    assert prep.leakage(f) == 5  # each validation frame's sequence also trains
    g = prep.assemble(tiny_dataset, dst, split="grouped", val_fraction=0.5, seed=0)
    assert prep.leakage(g) == 0 and len(set(g.y_val.tolist())) == 5
    assert len(g.y_train) + len(g.y_val) == 29
    with pytest.raises(ValueError, match="received 'random'"):
        prep.assemble(tiny_dataset, dst, split="random")


def test_npz_layout_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 256, 256, 1)).astype("float32")
    y = np.array([0, 4, 2, 1])
    path = prep.save_npz(tmp_path / "solar_train_data.npz", x, y)
    with np.load(path) as z:
        assert z.files == ["data"] and z["data"].shape == (4, 65537) and z["data"].dtype == np.uint8
        assert z["data"][:, 0].tolist() == [0, 4, 2, 1]
    x2, y2 = prep.load_npz(path)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)


def test_train_test_data_end_to_end(tiny_dataset, tmp_path):
    with pytest.warns(UserWarning):
        train, val = prep.train_test_data(tiny_dataset, 10, tmp_path, size=32, work_dir=tmp_path / "w",
                                          progress=False)
    assert train.dtype == np.uint8 and train.shape[1] == 1 + 32 * 32 and val.shape == (5, 1025)
    assert (tmp_path / "solar_train_data.npz").exists() and (tmp_path / "solar_test_data.npz").exists()


def test_load_npz_errors_name_the_file(tmp_path):
    p = tmp_path / "wrong_key.npz"
    np.savez(p, images=np.zeros((2, 5), np.uint8))
    with pytest.raises(DataFileError, match=r"wrong_key\.npz: has no key 'data'"):
        prep.load_npz(p)
    p = tmp_path / "not_square.npz"
    np.savez(p, data=np.zeros((2, 6), np.uint8))
    with pytest.raises(DataFileError, match=r"not_square\.npz: rows have length 6"):
        prep.load_npz(p)
    p = tmp_path / "floats.npz"
    np.savez(p, data=np.zeros((2, 5), np.float32))
    with pytest.raises(DataFileError, match=r"floats\.npz: 'data' must be a 2-D uint8 array"):
        prep.load_npz(p)
    with pytest.raises(DataFileError, match=r"missing\.npz: file not found"):
        prep.load_npz(tmp_path / "missing.npz")


def test_bad_class_folder_errors(tmp_path):
    with pytest.raises(DataFileError, match="contains no class folders"):
        prep.list_classes(tmp_path)
    with pytest.raises(DataFileError, match="is not a directory"):
        prep.list_classes(tmp_path / "nope")


def test_read_frame_rejects_a_cube(tmp_path):
    from astropy.io import fits

    p = tmp_path / "cube.fits"
    fits.writeto(p, np.ones((2, 4, 4), np.float32))
    with pytest.raises(DataFileError, match=r"cube\.fits: expected a 2-D image"):
        prep.read_frame(p)
