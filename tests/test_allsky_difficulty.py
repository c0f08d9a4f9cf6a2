"""The all-sky generator's ``difficulty`` option (notebook 03's hard skies; 04 and 07 keep the standard ones)."""
import json

import numpy as np
import pytest

from solarcnn.synthetic.allsky import AllSkyIR


def test_standard_is_the_default_and_keeps_its_stamp_and_frames(monkeypatch):
    gen = AllSkyIR(0, sequence_length=5)
    assert gen.difficulty == "standard"
    assert "difficulty" not in gen.stamp()["options"]     # folders of standard frames keep their stamp
    ref = AllSkyIR(0, sequence_length=5, difficulty="standard").sample(7).data

    def boom(*a, **k):
        raise AssertionError("the standard path drew a hard-mode parameter")

    monkeypatch.setattr(AllSkyIR, "_hard_params", boom)
    monkeypatch.setattr(AllSkyIR, "_haze_field", boom)
    s = gen.sample(7)
    np.testing.assert_array_equal(s.data, ref)
    assert "cloud_type" not in s.meta and "tau_max" not in s.meta


def test_hard_frames_differ_carry_their_cloud_type_and_stamp(tmp_path):
    from astropy.io import fits

    std, hard = AllSkyIR(0, sequence_length=1), AllSkyIR(0, sequence_length=1, difficulty="hard")
    assert hard.stamp()["options"]["difficulty"] == "hard"
    kinds = set()
    for i in range(12):
        s = hard.sample(i)
        assert s.data.dtype == np.int16 and s.data.min() >= 0
        assert not np.array_equal(s.data, std.sample(i).data)
        kinds.add(s.meta["cloud_type"])
        if s.label == "clear":
            assert s.meta["cloud_type"] == "none" and s.meta["tau_max"] == 0.0
        else:
            assert s.meta["cloud_type"] in ("low", "cirrus") and s.meta["tau_max"] > 0
        if s.meta["cloud_type"] == "cirrus":
            assert s.meta["tau_max"] <= 1.0 and s.meta["cloud_height_km"] >= 6.0
    assert kinds == {"none", "low", "cirrus"}
    path = hard.save(hard.sample(1), tmp_path / "f.fits")
    h = fits.getheader(path)
    assert h["CLOUDTYP"] in ("LOW", "CIRRUS") and h["TAUMAX"] > 0 and h["SKYCOND"] == "CLOUDY"
    assert "CLOUDTYP" not in fits.getheader(std.save(std.sample(1), tmp_path / "g.fits"))


def test_hard_skies_are_not_separable_by_brightness():
    """The standard skies' classes differ in mean brightness; the hard ones overlap (varying sky, artefacts)."""
    def best_threshold_accuracy(gen):
        means, labels = [], []
        for i in range(30):
            s = gen.sample(i)
            means.append(s.data[gen.fov_mask()].mean())
            labels.append(s.label == "cloudy")
        means, labels = np.array(means), np.array(labels)
        return max(max(np.mean((means > t) == labels), np.mean((means <= t) == labels)) for t in means)

    assert best_threshold_accuracy(AllSkyIR(3, sequence_length=1)) > 0.95
    assert best_threshold_accuracy(AllSkyIR(3, sequence_length=1, difficulty="hard")) < 0.9


def test_bad_difficulty_is_named():
    with pytest.raises(ValueError, match="difficulty.*'extreme'"):
        AllSkyIR(0, difficulty="extreme")


def test_build_synthetic_keys_the_folder_by_difficulty(tmp_path):
    from solarcnn.cirrus.data import build_synthetic

    out = build_synthetic(tmp_path, n_frames=2, sequence_length=1, difficulty="hard", masks=False)
    stamp = json.loads((tmp_path / "dataset.json").read_text())
    assert stamp["options"]["difficulty"] == "hard"
    assert out["generator"].difficulty == "hard"
    from astropy.io import fits

    assert fits.getheader(out["binned"][1])["SKYCOND"] == "CLOUDY"
    before = out["raw"][0].stat().st_mtime_ns
    build_synthetic(tmp_path, n_frames=2, sequence_length=1, masks=False)   # standard: another stamp, rewritten
    assert "difficulty" not in json.loads((tmp_path / "dataset.json").read_text())["options"]
    assert out["raw"][0].stat().st_mtime_ns != before
    assert "CLOUDTYP" not in fits.getheader(out["raw"][0])
