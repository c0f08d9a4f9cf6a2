"""Sim-to-real for Slic: the generator's domain randomisation, `solarcnn.slic.real`, and the executed run's count."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from solarcnn import synthetic
from solarcnn.slic import prep

os.environ.setdefault("SOLARCNN_DATA_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_plain_frames_keep_their_stamp_and_randomised_ones_record_the_option():
    plain = synthetic.get("sot", seed=3, frames_per_sequence=2)
    assert "domain_randomisation" not in plain.stamp()["options"]       # folders written before keep their stamp
    dr = synthetic.get("sot", seed=3, frames_per_sequence=2, domain_randomisation=True)
    assert dr.stamp()["options"]["domain_randomisation"] is True
    a, b = plain.sample(0), dr.sample(0)
    assert a.label == b.label and not np.array_equal(a.data, b.data)


def test_randomised_frames_are_deterministic_valid_and_varied():
    a = synthetic.get("sot", seed=5, frames_per_sequence=2, size=128, domain_randomisation=True)
    b = synthetic.get("sot", seed=5, frames_per_sequence=2, size=128, domain_randomisation=True)
    np.testing.assert_array_equal(a.sample(7).data, b.sample(7).data)
    frames = [a.sample(2 * k) for k in range(10)]   # first frames of 10 sequences, two of each class
    for s in frames:
        assert s.data.dtype == np.dtype(">i2") and s.data.shape == (128, 128)
        assert prep.frame_problem(s.data) is None        # no zero pixels (gaps only when asked for), not blank
    levels = np.array([np.median(s.data) for s in frames])
    assert levels.max() > 2.5 * levels.min()              # exposure varies between sequences (150...1500 DN)
    # noise varies: the high-frequency residual relative to the level
    resid = [np.std(np.diff(s.data.astype(float), axis=1)) / np.median(s.data) for s in frames]
    assert max(resid) > 1.5 * min(resid)


def test_randomised_sunspots_vary_in_darkness_size_and_position():
    gen = synthetic.get("sot", seed=11, frames_per_sequence=1, size=256, domain_randomisation=True)
    spots = [gen.sample(i).data.astype(float) for i in range(4, 5 * 8, 5)]   # 8 sunspot sequences
    assert all(gen.label_for(i) == "sunspots" for i in range(4, 5 * 8, 5))
    dark_frac, centres, umbra = [], [], []
    for d in spots:
        med = np.median(d)
        dark = d < 0.8 * med
        dark_frac.append(dark.mean())
        yy, xx = np.nonzero(d < np.percentile(d, 1))
        centres.append((yy.mean(), xx.mean()))
        umbra.append(np.percentile(d, 0.5) / med)
    assert max(dark_frac) > 2 * min(dark_frac)                    # spot sizes differ
    assert np.ptp(np.array(centres), axis=0).max() > 0.2 * 256    # spots are not all at the centre
    assert min(umbra) < 0.5 and max(umbra) - min(umbra) > 0.1     # dark umbrae, of varying darkness


def test_bad_domain_randomisation_value():
    with pytest.raises(ValueError, match="domain_randomisation must be True or False; received 'yes'"):
        synthetic.get("sot", domain_randomisation="yes")


def test_synthetic_slic_data_keeps_plain_and_randomised_apart(tmp_path):
    from solarcnn.slic.data import synthetic_slic_data

    kw = dict(n_sequences=2, frames_per_sequence=1, size=64, seed=0, val_fraction=0.5, missing_block_fraction=0.0)
    plain = synthetic_slic_data(tmp_path, **kw)
    dr = synthetic_slic_data(tmp_path, domain_randomisation=True, **kw)
    assert (tmp_path / "sot_fits").is_dir() and (tmp_path / "sot_fits_randomised").is_dir()
    assert (tmp_path / "prepared_64").is_dir() and (tmp_path / "prepared_64_randomised").is_dir()
    assert plain.x_train.shape == dr.x_train.shape
    assert not np.array_equal(plain.x_train, dr.x_train)
    stamp = json.loads((tmp_path / "sot_fits_randomised" / ".sot.synthetic.json").read_text())
    assert stamp["options"]["domain_randomisation"] is True


@pytest.fixture(scope="module")
def small_model():
    import keras

    from solarcnn.models import build_slic

    keras.utils.set_random_seed(0)
    return build_slic((64, 64, 1), width_multiplier=0.125, dense_units=16)


def test_evaluate_real_sot_and_other_patches(small_model):
    from solarcnn.models.slic import SLIC_CLASSES
    from solarcnn.slic.classify import classify
    from solarcnn.slic.real import evaluate_real, sot_files

    ev = evaluate_real(small_model, others=True)
    sot = ev.of("hinode_sot")
    assert sot.n == 18 and set(sot.expected) == {"sunspots"}
    assert sum(sot.counts().values()) == 18 and sot.n_correct == sot.counts()["sunspots"]
    # prepared exactly as training frames: the same probabilities as classify() with the training preprocessing
    ref = classify(sot_files(), small_model)
    for p, q in zip(sot.predictions, ref):
        assert p.label == q.label and np.allclose(list(p.probabilities.values()), list(q.probabilities.values()))
    summary = ev.summary()
    assert summary["dkist_photosphere"]["n"] == 4 and summary["dkist_photosphere"]["expected"] == ["quiet"]
    assert summary["bbso_filaments"]["n"] >= 4 and summary["bbso_filaments"]["expected"] == ["filaments"]
    assert summary["bbso_quiet"]["n"] >= 3 and summary["bbso_quiet"]["expected"] == ["quiet"]
    assert all(p.label in SLIC_CLASSES for p in ev.predictions)
    assert ev.n_correct == sum(v["n_correct"] for v in summary.values())
    assert "hinode_sot:" in str(ev)


def test_bbso_filament_windows_are_darker_than_quiet_ones():
    from solarcnn.slic.real import bbso_windows

    fil, _, quiet, _ = bbso_windows(96)
    # a filament window holds pixels far darker than its median; a quiet-disk window does not
    depth = lambda w: (np.median(w) - np.percentile(w, 1)) / np.median(w)  # noqa: E731
    assert min(depth(w) for w in fil) > max(depth(w) for w in quiet)
    with pytest.raises(ValueError, match="window must be an integer in \\[16, 512\\]; received 8"):
        bbso_windows(8)


def test_evaluate_real_names_a_missing_file(small_model, tmp_path):
    from solarcnn.errors import DataFileError
    from solarcnn.slic.real import evaluate_real

    with pytest.raises(DataFileError, match="nope.fits"):
        evaluate_real(small_model, files=[tmp_path / "nope.fits"])


@pytest.mark.after_notebooks
def test_executed_tiny_run_labels_real_sot_frames_as_sunspots(test_run_dir, executed_notebooks):
    """Issue 15 item 4: the tiny run of notebook 02 labels at least 16 of the 18 real SOT frames sunspots."""
    name = "02_slic_feature_classifier"
    if name not in executed_notebooks:
        pytest.skip("notebook 02 was not part of this session; run tools/test.sh (pytest tests notebooks ...)")
    assert executed_notebooks[name], "notebook 02 did not run to the end in this session"
    metrics = json.loads((test_run_dir / "metrics" / f"{name}.json").read_text())
    assert metrics["real_sot_n_frames"]["value"] == 18
    n = metrics["real_sot_n_sunspots"]["value"]
    assert n >= 16, f"only {n} of the 18 real SOT sunspot frames classified as sunspots (goal: at least 16)"
