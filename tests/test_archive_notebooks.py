"""`solarcnn run NN -p data_dir FOLDER` in the tiny profile (issue 14 item 1): a fixture folder in the original
layout runs end to end (notebooks 01 to 07) and the results record where the data came from; a wrong folder stops
at once with a message naming it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run(nb, tmp_path, *params):
    env = dict(os.environ, SOLARCNN_WORKDIR=str(tmp_path / "work"))
    env.pop("SOLARCNN_RESULTS_DIR", None)        # the runner sets it inside its run folder
    cmd = [sys.executable, "-m", "solarcnn", "run", nb, "--run-dir", str(tmp_path / "runs"), "--no-progress"]
    for name, value in params:
        cmd += ["-p", name, str(value)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return proc, tmp_path / "runs"


def metrics(runs, notebook):
    return {k: v["value"] for k, v in json.loads((runs / "metrics" / f"{notebook}.json").read_text()).items()}


def test_notebook_05_on_an_unsplit_deepcam_folder(tmp_path):
    from solarcnn.synthetic import get

    folder = tmp_path / "All-Hist"
    get("cam5", seed=7, size=(96, 144)).write(folder, 10, progress=False)
    for stamp in folder.glob(".*.json"):
        stamp.unlink()
    before = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
    proc, runs = run("05", tmp_path, ("data_dir", folder), ("epochs", 1))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = metrics(runs, "05_deepcam_climate_segmentation")
    assert got["data_source"] == str(folder.resolve()) and got["data_files"] == 10
    assert 0.0 <= got["val_iou"] <= 1.0
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) == before   # only read
    executed = json.loads((runs / "05_deepcam_climate_segmentation.ipynb").read_text())
    first = next("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                 for o in c.get("outputs", []) if "Data source:" in "".join(o.get("text", "")))
    assert f"Data source: {folder.resolve()} (data_dir: 10 files" in first
    assert "train 8, validation 1, test 1" in first
    assert "val_iou" in proc.stdout and "data_source" not in proc.stdout.split("done in")[-1].split("\n")[0]


def slic_folder(tmp_path):
    from solarcnn.synthetic import get

    folder = tmp_path / "DATA"
    gen = get("sot", seed=5, frames_per_sequence=2, size=128)
    gen.write(folder, len(gen.indices(4)), progress=False)
    for stamp in folder.glob(".*.json"):
        stamp.unlink()
    return folder


def test_notebook_01_prepares_slic_class_folders(tmp_path):
    folder = slic_folder(tmp_path)
    proc, runs = run("01", tmp_path, ("data_dir", folder))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = metrics(runs, "01_solar_fits_data_prep")
    assert got["data_source"] == str(folder.resolve()) and got["data_files"] == 40 and got["n_frames_prepared"] == 40
    assert got["leakage_grouped_split"] == 0 and not list(folder.rglob("*.npz"))


def test_notebook_02_on_slic_class_folders(tmp_path):
    folder = slic_folder(tmp_path)
    proc, runs = run("02", tmp_path, ("data_dir", folder), ("epochs", 1))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = metrics(runs, "02_slic_feature_classifier")
    assert got["data_source"] == str(folder.resolve()) and got["data_files"] == 40
    assert 0.0 <= got["val_accuracy"] <= 1.0
    assert not list(folder.rglob("*.npz"))


def test_notebook_06_on_magnetograms_in_the_authors_layout(tmp_path):
    """Synthetic magnetograms converted to 8-bit JPEG under real 2011 times, labelled from the real GOES list."""
    import tempfile

    from solarcnn import synthetic
    from solarcnn.flare.images import hmi_fits_to_uint8, save_jpeg
    from solarcnn.flare.labels import image_filename

    gen = synthetic.get("magnetogram", seed=3, size=128, start="2011-01-01T00:00:00", days=365, cadence_hours=96)
    folder = tmp_path / "HMI"
    with tempfile.TemporaryDirectory() as fits_dir:
        for i, p in enumerate(gen.write(fits_dir, gen.n_images, progress=False)):
            save_jpeg(folder / image_filename(gen.time_of(i), "jpg"), hmi_fits_to_uint8(p, size=128))
    proc, runs = run("06", tmp_path, ("data_dir", folder), ("epochs", 1))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = metrics(runs, "06_fulldisk_flare_prediction")
    assert got["data_source"] == str(folder.resolve()) and got["data_files"] == gen.n_images
    assert -1.0 <= got["mean_tss"] <= 1.0 and "data_dir" in json.loads(
        (runs / "metrics" / "06_fulldisk_flare_prediction.json").read_text())["mean_tss"]["description"]


def test_notebook_07_on_a_cirrus_frame_folder(tmp_path):
    """Raw cloudy LWIR frames (allsky_ir generator): masks made as the paper does, then the Optuna search."""
    from solarcnn.synthetic import get

    folder = tmp_path / "frames"
    get("allsky_ir", seed=4, sequence_length=3, labels="cloudy").write(folder, 18, progress=False)
    for stamp in folder.glob(".*.json"):
        stamp.unlink()
    names = sorted(p.name for p in folder.iterdir())
    proc, runs = run("07", tmp_path, ("data_dir", folder), ("n_trials", 2), ("epochs", 1), ("retrain_epochs", 1))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = metrics(runs, "07_hyperparameter_search")
    assert got["data_source"] == str(folder.resolve()) and got["data_files"] == 18
    assert 0.0 <= got["best_config_test_iou"] <= 1.0
    assert sorted(p.name for p in folder.iterdir()) == names        # masks went to the work folder


def cirrus_frames(folder, n, labels):
    from solarcnn.synthetic import get

    get("allsky_ir", seed=4, sequence_length=3, labels=labels).write(folder, n, progress=False)
    for stamp in folder.glob(".*.json"):
        stamp.unlink()
    return folder


def test_notebook_03_on_clear_and_cloudy_folders(tmp_path):
    """Raw LWIR frames sorted into clear/ and cloudy/ by their SKYCOND header: labels from the folders only."""
    from astropy.io import fits

    raw = cirrus_frames(tmp_path / "raw", 36, "alternate")
    folder = tmp_path / "CIRRUS"
    for p in sorted(raw.glob("*.fits*")):
        sub = folder / fits.getheader(p)["SKYCOND"].strip().lower()
        sub.mkdir(parents=True, exist_ok=True)
        p.rename(sub / p.name)
    counts = {c: len(list((folder / c).iterdir())) for c in ("clear", "cloudy")}
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    proc, runs = run("03", tmp_path, ("data_dir", folder), ("epochs", 1))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = metrics(runs, "03_cirrus_sky_classification")
    assert got["data_source"] == str(folder.resolve()) and got["data_files"] == 36
    assert 0.0 <= got["test_accuracy"] <= 1.0 and 0.0 <= got["test_roc_auc"] <= 1.0
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == before      # only read
    executed = (runs / "03_cirrus_sky_classification.ipynb").read_text()
    assert f"clear {counts['clear']}, cloudy {counts['cloudy']}" in executed


def test_notebook_04_on_a_cirrus_frame_folder(tmp_path):
    """Raw cloudy LWIR frames: ground-truth masks made as the paper does, every pixel counts (no FOV mask)."""
    folder = cirrus_frames(tmp_path / "frames", 18, "cloudy")
    names = sorted(p.name for p in folder.iterdir())
    proc, runs = run("04", tmp_path, ("data_dir", folder), ("epochs", 1), ("double_conv_epochs", 1),
                     ("wsiseg_epochs", 1), ("mc_samples", 2))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = metrics(runs, "04_cirrus_cloud_segmentation")
    assert got["data_source"] == str(folder.resolve()) and got["data_files"] == 18
    assert 0.0 <= got["unet_iou_fov"] <= 1.0 and "otsu_vs_physical_iou" not in got
    assert "data_dir" in json.loads((runs / "metrics" / "04_cirrus_cloud_segmentation.json").read_text()
                                    )["unet_iou_fov"]["description"]
    assert sorted(p.name for p in folder.iterdir()) == names        # masks went to the work folder


def test_wrong_folder_and_synthetic_only_notebook_stop_at_once(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc, _ = run("05", tmp_path, ("data_dir", empty))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "DataLayoutError" in out and f"{empty}: holds no data*.h5 file" in out
    proc, _ = run("03", tmp_path / "b", ("data_dir", empty))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "DataLayoutError" in out and f"{empty}: has no clear/ and no cloudy/ folder" in out
    from solarcnn.slic.prep import save_npz

    npz = tmp_path / "npz"
    save_npz(npz / "solar_train_data.npz", [[[0] * 256] * 256], [0])
    save_npz(npz / "solar_test_data.npz", [[[0] * 256] * 256], [1])
    proc, _ = run("01", tmp_path / "c", ("data_dir", npz))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "there is nothing to prepare" in out
