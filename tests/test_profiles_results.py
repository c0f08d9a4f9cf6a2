"""Profiles and the results table."""
import json

import pytest

import solarcnn
from solarcnn import profiles
from solarcnn.errors import ParameterError
from solarcnn.results import collect, write_table


def test_profile_resolves_and_overrides(capsys):
    cfg = solarcnn.profile("00_welcome", "tiny", n_synthetic=None)
    assert cfg.n_synthetic == profiles.table("00_welcome")["tiny"]["n_synthetic"]
    cfg = solarcnn.profile("00_welcome", "full", n_synthetic=3)
    assert cfg.n_synthetic == 3 and cfg._sources["n_synthetic"] == "parameter"
    assert "overridden" in capsys.readouterr().out


def test_unknown_profile_is_an_error():
    with pytest.raises(ParameterError, match=r"unknown profile 'huge'.*\['full', 'tiny'\]"):
        solarcnn.profile("00_welcome", "huge")


def test_unknown_setting_is_an_error():
    with pytest.raises(ParameterError, match=r"\['epochz'\] are not settings of this notebook"):
        solarcnn.profile("00_welcome", "tiny", epochz=3)


def test_unknown_notebook_is_an_error():
    with pytest.raises(ParameterError, match="no profile file for notebook '99_nothing'"):
        solarcnn.profile("99_nothing", "tiny")


def test_every_profile_file_declares_both_profiles_with_the_same_keys():
    files = sorted(profiles.HERE.glob("*.toml"))
    assert files, "no profile files"
    for f in files:
        table = profiles.table(f.stem)          # raises on a malformed file
        assert set(table) == set(profiles.PROFILES)


def test_malformed_profile_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "HERE", tmp_path)
    (tmp_path / "99_x.toml").write_text("[tiny]\na = 1\n[full]\nb = 2\n")
    with pytest.raises(ParameterError, match="every profile must set the same keys"):
        profiles.table("99_x")
    (tmp_path / "98_y.toml").write_text("[tiny]\na = 1\n")
    with pytest.raises(ParameterError, match=r"missing \['full'\]"):
        profiles.table("98_y")


def test_record_writes_json_and_table(tmp_path, monkeypatch):
    monkeypatch.setenv("SOLARCNN_RESULTS_DIR", str(tmp_path / "m"))
    import numpy as np

    solarcnn.record("acc", np.float32(0.975), notebook="02_x", description="accuracy")
    solarcnn.record("n", np.int64(12), notebook="02_x", unit="files", description="max |d| of files")
    data = json.loads((tmp_path / "m" / "02_x.json").read_text())
    assert data["acc"]["value"] == pytest.approx(0.975) and data["n"]["value"] == 12
    rows = collect(tmp_path / "m", {"02_x": 12.34})
    assert [r["metric"] for r in rows] == ["wall_time", "keras_backend", "acc", "n"]
    jpath, mpath = write_table(rows, tmp_path, header="# Results")
    md = mpath.read_text()
    assert "| 02_x | acc | 0.975 |  |  |  | accuracy |" in md and md.startswith("# Results")
    assert "| 02_x | n | 12 |  |  | files | max \\|d\\| of files |" in md      # pipes escaped, columns intact
    from solarcnn.course.book import read_results_table

    _, table = read_results_table(mpath)
    assert [row[6] for row in table if row[1] == "n"] == ["max \\|d\\| of files"]
    assert json.loads(jpath.read_text())[0]["value"] == 12.3


def test_the_table_records_the_keras_backend(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("SOLARCNN_RESULTS_DIR", str(tmp_path / "m"))
    solarcnn.record("acc", 0.5, notebook="03_y", verbose=False)
    assert json.loads((tmp_path / "m" / "03_y.json").read_text())["acc"]["backend"] == keras.backend.backend()
    (tmp_path / "m" / "04_z.json").write_text(json.dumps({      # two processes on two backends: both named
        "a": {"value": 1, "backend": "jax"}, "b": {"value": 2, "backend": "torch"}, "c": {"value": 3}}))
    rows = {(r["notebook"], r["metric"]): r["value"] for r in collect(tmp_path / "m", {"03_y": 1.0})}
    assert rows[("03_y", "keras_backend")] == keras.backend.backend()
    assert rows[("04_z", "keras_backend")] == "jax, torch"
    (tmp_path / "m" / "05_old.json").write_text(json.dumps({"a": {"value": 1}}))   # metrics from before the field
    assert ("05_old", "keras_backend") not in {(r["notebook"], r["metric"]) for r in collect(tmp_path / "m")}


def test_record_rejects_non_numbers():
    with pytest.raises(TypeError, match=r"received \[1, 2\]"):
        solarcnn.record("x", [1, 2], notebook="t", verbose=False)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        solarcnn.record("", 1, notebook="t", verbose=False)


def test_record_with_interval_and_baseline_fills_the_table_row(tmp_path, monkeypatch):
    """Issue 15: ``record(name, v, ci=, baseline=)`` stores ``<name>_ci_low/_ci_high`` and ``baseline_<name>``,
    and the results table (and the book's reading of it) shows them in the metric's row."""
    from solarcnn.course.book import read_results_table

    monkeypatch.setenv("SOLARCNN_RESULTS_DIR", str(tmp_path / "metrics"))
    solarcnn.record("val_iou", 0.81, notebook="nb_ci", ci=(0.74, 0.86), baseline=0.42, headline=True)
    saved = json.loads((tmp_path / "metrics" / "nb_ci.json").read_text())
    assert {k: saved[k]["value"] for k in saved} == {"val_iou": 0.81, "val_iou_ci_low": 0.74,
                                                     "val_iou_ci_high": 0.86, "baseline_val_iou": 0.42}
    _, md = write_table(collect(tmp_path / "metrics"), tmp_path)
    _, rows = read_results_table(md)
    assert [r[:5] for r in rows if r[1] != "keras_backend"] == [["nb_ci", "val_iou", "0.81", "[0.74, 0.86]", "0.42"]]
    with pytest.raises(ValueError, match=r"low <= high; received \(0.9, 0.1\)"):
        solarcnn.record("x", 0.5, notebook="nb_ci", ci=(0.9, 0.1))
    with pytest.raises(ValueError, match="baseline must be a number; received 'none'"):
        solarcnn.record("x", 0.5, notebook="nb_ci", baseline="none")


def test_say_formats_recorded_metrics_and_names_a_missing_one(capsys):
    solarcnn.record("leaky_accuracy", 0.9712, notebook="nb_say", verbose=False)
    text = solarcnn.say("the leaky split scores {leaky_accuracy:.2f} against {honest:.2f}", notebook="nb_say",
                        honest=0.8)
    assert text == "the leaky split scores 0.97 against 0.80" and text in capsys.readouterr().out
    with pytest.raises(KeyError, match="'missing' is neither a metric recorded by nb_say"):
        solarcnn.say("{missing}", notebook="nb_say")


def test_bootstrap_interval_contains_the_estimate_and_resamples_groups():
    import numpy as np
    from solarcnn.metrics import bootstrap_ci, seed_interval

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    pred = np.where(rng.random(200) < 0.8, y, 1 - y)
    acc = lambda t, p: float(np.mean(t == p))    # noqa: E731
    value, low, high = bootstrap_ci(acc, y, pred, n_boot=500)
    assert low < value < high and 0.05 < high - low < 0.2
    # ten groups of twenty identical outcomes: the cluster bootstrap is much wider than the per-sample one
    groups = np.repeat(np.arange(10), 20)
    grouped = np.repeat(rng.integers(0, 2, 10), 20)
    _, gl, gh = bootstrap_ci(acc, np.ones(200, int), grouped, groups=groups, n_boot=500)
    _, sl, sh = bootstrap_ci(acc, np.ones(200, int), grouped, n_boot=500)
    assert gh - gl > 3 * (sh - sl)
    with pytest.raises(ValueError, match="y_true has 3 samples, y_pred 2"):
        bootstrap_ci(acc, [1, 0, 1], [1, 0])
    # too small a set is reported, not fatal: one group -> single samples (warned); metric mostly undefined -> nan
    with pytest.warns(RuntimeWarning, match="all samples are in one group"):
        _, ol, oh = bootstrap_ci(acc, y, pred, groups=np.zeros(200, int), n_boot=200)
    assert ol < oh

    def needs_both_classes(t, p):           # undefined unless a resample starts with class 0 (~5/6 are not)
        if t[0] != 0:
            raise ValueError("starts with class 1")
        return float(np.mean(t == p))

    with pytest.warns(RuntimeWarning, match=r"undefined on \d+ of 200 resamples.*\(nan, nan\)"):
        v, nl, nh = bootstrap_ci(needs_both_classes, np.array([0, 1, 1, 1, 1, 1]), np.ones(6), n_boot=200)
    assert v == pytest.approx(5 / 6) and np.isnan(nl) and np.isnan(nh)
    solarcnn.record("tiny_set_acc", v, notebook="nb_nan", ci=(nl, nh), verbose=False)   # (nan, nan) is recorded
    mean, lo, hi = seed_interval([0.8, 0.82, 0.78])
    assert lo < mean < hi and mean == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"at least 2 values; received \[0.8\]"):
        seed_interval([0.8])
