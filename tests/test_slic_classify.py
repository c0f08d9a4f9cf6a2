"""Slic inference: classify (function and CLI), traversal order, sliding-window map, error messages."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from solarcnn.errors import DataFileError  # noqa: E402
from solarcnn.models import build_slic  # noqa: E402
from solarcnn.slic import classify as C  # noqa: E402


def _sot_dir() -> Path:
    os.environ.setdefault("SOLARCNN_DATA_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    from solarcnn.data import fetch

    return Path(fetch("hinode_sot"))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    keras.utils.set_random_seed(0)
    m = build_slic((32, 32, 1), width_multiplier=0.0625, dense_units=8)
    path = tmp_path_factory.mktemp("m") / "slic.keras"
    m.save(path)
    return path


def test_classify_real_frames(model_path):
    files = sorted(_sot_dir().glob("FG*.fits.gz"))[:3]
    preds = C.classify(files, model_path)
    assert [Path(p.file).name for p in preds] == [f.name for f in files]
    for p in preds:
        assert set(p.probabilities) == set(C.SLIC_CLASSES)
        assert abs(sum(p.probabilities.values()) - 1) < 1e-6
        assert p.label == max(p.probabilities, key=p.probabilities.get)
        assert p.time is not None


def test_traverse_sorts_by_date_obs(model_path):
    files = sorted(_sot_dir().glob("FG*.fits.gz"))
    times, probs, preds = C.traverse(list(reversed(files)), model_path)
    assert times == sorted(times) and probs.shape == (18, 5)
    assert Path(preds[0].file).name == "FG20111008_111533.0.fits.gz"


def test_sliding_window_map_masks_and_shapes(model_path):
    rng = np.random.default_rng(0)
    img = rng.uniform(100, 200, (128, 128))
    mask = np.zeros_like(img, dtype=bool)
    mask[:, :64] = True
    probs, yc, xc = C.sliding_window_map(img, model_path, window=32, stride=32, mask=mask)
    assert probs.shape == (4, 4, 5) and yc.tolist() == [16, 48, 80, 112]
    assert np.isfinite(probs[:, :2]).all() and np.isnan(probs[:, 2:]).all()
    np.testing.assert_allclose(probs[:, :2].sum(-1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match="received 500"):
        C.sliding_window_map(img, model_path, window=500)


def test_cli_prints_class_per_file(model_path, capsys):
    from solarcnn.slic.cli import main

    files = sorted(_sot_dir().glob("FG*.fits.gz"))[:2]
    assert main(["classify", *map(str, files), "--model", str(model_path), "--json"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.strip().splitlines()]
    assert [Path(l["file"]).name for l in lines] == [f.name for f in files]
    assert all(l["class"] in C.SLIC_CLASSES for l in lines)


def test_cli_reports_bad_file(model_path, tmp_path, capsys):
    from solarcnn.slic.cli import main

    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"not a fits file at all")
    assert main(["classify", str(bad), "--model", str(model_path)]) == 2
    assert "broken.fits: not a readable FITS file" in capsys.readouterr().err


def test_errors_name_the_file(model_path, tmp_path):
    from astropy.io import fits

    with pytest.raises(DataFileError, match=r"nomodel\.keras: model file not found"):
        C.load_model(tmp_path / "nomodel.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"garbage")
    with pytest.raises(DataFileError, match=r"junk\.keras: not a loadable Keras model"):
        C.load_model(junk)
    blank = tmp_path / "blank.fits"
    fits.writeto(blank, np.full((32, 32), 7, np.int16))
    with pytest.raises(DataFileError, match=r"blank\.fits: cannot classify: blank frame"):
        C.classify([blank], model_path)
    nan = tmp_path / "nan.fits"
    a = np.ones((32, 32), np.float32)
    a[3, 3] = np.nan
    fits.writeto(nan, a)
    with pytest.raises(DataFileError, match=r"nan\.fits: cannot classify: 1 NaN pixel"):
        C.classify([nan], model_path)
    with pytest.raises(ValueError, match="received 'raw'"):
        C.prepare_input(np.ones((4, 4)), 32, "raw")


def test_sliding_window_map_min_mask_fraction(model_path):
    img = np.random.default_rng(1).uniform(100, 200, (128, 128))
    mask = np.zeros_like(img, dtype=bool)
    mask[:, :80] = True                       # windows at x0=64 are half in the mask
    half, _, _ = C.sliding_window_map(img, model_path, window=32, stride=32, mask=mask)
    full, _, _ = C.sliding_window_map(img, model_path, window=32, stride=32, mask=mask, min_mask_fraction=1.0)
    assert np.isfinite(half[:, 2]).all() and np.isnan(full[:, 2]).all() and np.isfinite(full[:, :2]).all()
    with pytest.raises(ValueError, match="received 0"):
        C.sliding_window_map(img, model_path, window=32, mask=mask, min_mask_fraction=0)
