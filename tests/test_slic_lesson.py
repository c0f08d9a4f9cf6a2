"""Notebook 02's lesson, checked on its executed tiny run (issue 15 items 2-4): the headline score carries an
interval and beats its baselines beyond it, the errors it analyses exist, and the sim-to-real count is recorded."""
from __future__ import annotations

import json

import pytest

NAME = "02_slic_feature_classifier"


@pytest.mark.after_notebooks
def test_executed_tiny_run_of_02_reports_interval_baselines_and_real_errors(test_run_dir, executed_notebooks):
    if NAME not in executed_notebooks:
        pytest.skip("notebook 02 was not part of this session; run tools/test.sh (pytest tests notebooks ...)")
    assert executed_notebooks[NAME], "notebook 02 did not run to the end in this session"
    entries = json.loads((test_run_dir / "metrics" / f"{NAME}.json").read_text())
    m = {k: e["value"] for k, e in entries.items()}
    assert entries["val_accuracy"].get("headline"), "val_accuracy is 02's headline metric"
    acc, low, high = m["val_accuracy"], m["val_accuracy_ci_low"], m["val_accuracy_ci_high"]
    assert 0.0 <= low <= acc <= high <= 1.0, (low, acc, high)
    assert m["chance_val_accuracy"] == pytest.approx(1 / 5)
    assert m["baseline_val_accuracy"] < low, "the network must beat the majority class beyond its interval"
    assert m["macro_f1_ci_low"] <= m["macro_f1"] <= m["macro_f1_ci_high"]
    assert m["baseline_macro_f1"] < m["macro_f1_ci_low"]
    assert m["val_errors"] >= 1, "the tiny data saturate: the error analysis has no errors to show (issue 15 item 2)"
    assert m["real_sot_n_frames"] == 18 and 0 <= m["real_sot_n_sunspots"] <= 18
    assert m["real_sot_fraction_sunspots"] == pytest.approx(m["real_sot_n_sunspots"] / 18)
    assert 0 <= m["real_patches_n_correct"] <= m["real_patches_n"]
