"""WSISEG loader, red/blue baseline and MC-dropout uncertainty."""
import os

import numpy as np
import pytest

from solarcnn.cirrus import wsiseg
from solarcnn.errors import DataFileError


@pytest.fixture(scope="module")
def wsiseg_dir(tmp_path_factory):
    # the mirror comes from $SOLARCNN_DATA_MIRROR (conftest.py sets ../shared/data beside the checkout)
    os.environ.setdefault("SOLARCNN_CACHE", str(tmp_path_factory.mktemp("cache")))
    from solarcnn.data import fetch

    return fetch("wsiseg")


def test_encode_annotation_values_and_error():
    out = wsiseg.encode_annotation(np.array([[255, 100, 0]], np.uint8))
    assert out.tolist() == [[1, 0, -1]]
    with pytest.raises(DataFileError) as err:
        wsiseg.encode_annotation(np.array([[255, 128]], np.uint8), "a/b.png")
    assert "a/b.png" in str(err.value) and "128" in str(err.value)


def test_red_blue_ratio():
    rgb = np.array([[[100, 0, 200], [50, 0, 0]]], np.uint8)
    np.testing.assert_allclose(wsiseg.red_blue_ratio(rgb), [[0.5, 50.0]])


def test_load_wsiseg_real(wsiseg_dir):
    d = wsiseg.load_wsiseg(wsiseg_dir)
    assert d["ratio"].shape == (75, 120, 128) and d["labels"].shape == (75, 120, 128)
    assert set(np.unique(d["labels"])) == {-1, 0, 1}
    assert sorted(set(d["sky_type"])) == ["Clear sky", "Overcast sky", "Partial cloud"]
    tr, te = wsiseg.held_out_split(d["sky_type"])
    assert len(te) == 15 and not set(tr) & set(te) and len(tr) + len(te) == 75
    t = wsiseg.fit_ratio_threshold(d["ratio"][tr], d["labels"][tr])
    assert 0.3 <= t <= 1.3


def test_load_wsiseg_corrupt_annotation(tmp_path, wsiseg_dir):
    import shutil

    from PIL import Image

    root = tmp_path / "ws"
    shutil.copytree(wsiseg_dir, root)
    name = sorted((root / "annotations").glob("*.png"))[0]
    a = np.asarray(Image.open(name)).copy()
    a[0, 0] = 7
    Image.fromarray(a).save(name)
    with pytest.raises(DataFileError) as err:
        wsiseg.load_wsiseg(root)
    assert str(name) in str(err.value) and "7" in str(err.value)


def test_mc_dropout_needs_dropout_and_gives_spread():
    from solarcnn.cirrus.uncertainty import mc_dropout_predict, predictive_entropy
    from solarcnn.models import build_cirrus_unet

    x = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="no Dropout"):
        mc_dropout_predict(build_cirrus_unet((16, 16, 1), channels=(2, 2, 2)), x)
    mean, std = mc_dropout_predict(build_cirrus_unet((16, 16, 1), channels=(4, 4, 4), dropout=0.5), x, n_samples=4)
    assert mean.shape == (2, 16, 16, 1) and std.max() > 0
    assert predictive_entropy(np.array([0.5]))[0] == pytest.approx(1.0)


def test_colour_features_hand_computed():
    rgb = np.array([[[100, 50, 200], [255, 255, 255]]], np.uint8)
    f = wsiseg.colour_features(rgb, ("ratio", "nbr", "saturation", "brightness"))
    assert f.shape == (1, 2, 4) and f.dtype == np.float32
    np.testing.assert_allclose(f[0, 0], [0.5, 100 / 300, 150 / 200, 200 / 255], rtol=1e-6)
    np.testing.assert_allclose(f[0, 1], [1.0, 0.0, 0.0, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="hue"):
        wsiseg.colour_features(rgb, ("ratio", "hue"))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        wsiseg.colour_features(np.zeros((2, 3)))


def test_upsample_probability_shape_and_range():
    p = np.array([[[0.0, 1.0], [1.0, 0.0]]], np.float32)
    up = wsiseg.upsample_probability(p, (6, 6))
    assert up.shape == (1, 6, 6) and up.min() >= 0 and up.max() <= 1
    assert up[0, 0, 0] < 0.5 < up[0, 0, 5]


def test_load_wsiseg_features_and_full_resolution(wsiseg_dir):
    d = wsiseg.load_wsiseg(wsiseg_dir, size=(72, 80), features=("ratio", "nbr"), keep_full=True)
    assert d["features"].shape == (75, 72, 80, 2) and d["feature_names"] == ("ratio", "nbr")
    assert d["labels_full"].shape == (75, 450, 480) and d["ratio_full"].shape == (75, 450, 480)
    assert set(np.unique(d["labels_full"])) == {-1, 0, 1}
    # channel 0 is the R/B ratio, reduced like `ratio`
    np.testing.assert_allclose(d["features"][..., 0], d["ratio"], atol=1e-4)
