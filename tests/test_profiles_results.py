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
    assert "| 02_x | acc | 0.975 |  | accuracy |" in md and md.startswith("# Results")
    assert "| 02_x | n | 12 | files | max \\|d\\| of files |" in md      # pipes escaped, columns intact
    from solarcnn.course.book import read_results_table

    _, table = read_results_table(mpath)
    assert [row[4] for row in table if row[1] == "n"] == ["max \\|d\\| of files"]
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
