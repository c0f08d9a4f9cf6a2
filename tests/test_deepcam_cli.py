"""``solarcnn deepcam generate | split | summarize`` on a tiny grid, the stats.h5 round trip, and the
streaming loader's output (preallocated batch, in-place normalisation) against the plain formula."""
import subprocess
import sys

import h5py
import numpy as np
import pytest

from solarcnn.course.cli import main
from solarcnn.deepcam import data as camdata
from solarcnn.errors import DataFileError




@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("cam5cli")
    assert main(["deepcam", "generate", str(root / "all"), "-n", "10", "--size", "32", "48", "--seed", "4"]) == 0
    return root


def _fields(path):
    with h5py.File(path, "r") as fh:
        return {k: (fh["climate"][k].shape, fh["climate"][k].dtype) for k in fh["climate"]}


def test_generate_split_summarize_round_trip(generated, real_stats_path, capsys):
    files = camdata.list_files(generated / "all")
    assert len(files) == 10
    x, y = camdata.read_sample(files[0])
    assert x.shape == (32, 48, 16) and x.dtype == np.float32 and set(np.unique(y)) <= {0, 1, 2}

    capsys.readouterr()
    assert main(["deepcam", "split", str(generated / "all"), str(generated / "split")]) == 0
    assert "train: 8, validation: 1, test: 1" in capsys.readouterr().out
    expected = camdata.split_files(generated / "all")          # the reference shuffle, seed 12345
    for part, members in expected.items():
        made = sorted((generated / "split" / part).iterdir())
        assert [p.name for p in made] == sorted(p.name for p in members)
        assert all(p.is_symlink() for p in made)

    stats = generated / "stats.h5"
    assert main(["deepcam", "summarize", str(generated / "split" / "train"), str(stats), "--jobs", "2"]) == 0
    assert "count 8" in capsys.readouterr().out
    # the same fields, shapes and dtypes as the genuine DeepCAM stats.h5 (group 'climate')
    assert _fields(stats) == _fields(real_stats_path)
    assert set(_fields(stats)) == {"count", "mean", "sqmean", "minval", "maxval"}
    got = camdata.read_stats(stats)
    xs = np.stack([camdata.read_sample(p)[0] for p in expected["train"]]).astype(np.float64)
    assert got["count"] == 8
    np.testing.assert_allclose(got["mean"], xs.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(got["sqmean"], (xs ** 2).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(got["minval"], xs.min(axis=(0, 1, 2)).astype(np.float32))
    np.testing.assert_array_equal(got["maxval"], xs.max(axis=(0, 1, 2)).astype(np.float32))
    # round trip: write what was read, read it again, identical values
    again = camdata.read_stats(camdata.write_stats(generated / "again.h5", tuple(got[k] for k in camdata.STATS_FIELDS)))
    for k in camdata.STATS_FIELDS:
        np.testing.assert_array_equal(again[k], got[k])
    # the train files normalise into [0, 1] with these stats, with each channel's extremes at 0 and 1
    ds = camdata.CamDataset(generated / "split" / "train", stats, batch_size=8, shuffle=False)
    xb, _ = ds[0]
    np.testing.assert_allclose(xb.min(axis=(0, 1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(xb.max(axis=(0, 1, 2)), 1.0, atol=1e-6)


def test_cli_errors_name_the_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "solarcnn", "deepcam", "summarize", str(empty),
                           str(tmp_path / "s.h5")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{empty}: no 'data-*.h5' files to summarise" in proc.stderr
    assert main(["deepcam", "split", str(tmp_path / "absent"), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "s.h5").exists()


def test_loader_batches_equal_the_plain_formula(generated, real_stats_path):
    """The preallocated, in-place loader gives bit-identical batches to ``scale * (x - shift)`` stacked."""
    stats = camdata.read_stats(real_stats_path)
    files = camdata.list_files(generated / "all")
    for channels in (None, [0, 3, 7, 15]):
        shift, scale = camdata.minmax_params(stats, channels)
        ds = camdata.CamDataset(files, stats, batch_size=3, seed=2, channels=channels)
        for b in range(len(ds)):
            x, y = ds[b]
            chosen = ds._indices()[b * 3:(b + 1) * 3]
            ref = [camdata.read_sample(files[i], channels) for i in chosen]
            want = np.stack([scale * (r[0] - shift) for r in ref])
            assert x.dtype == np.float32 and x.flags.c_contiguous
            np.testing.assert_array_equal(x, want)
            np.testing.assert_array_equal(y, np.stack([r[1] for r in ref]))
        np.testing.assert_array_equal(camdata.normalize(ref[0][0], stats, channels), want[0])
    (xo,) = camdata.CamDataset(files, stats, batch_size=2, shuffle=False, return_labels=False)[0]
    np.testing.assert_array_equal(xo, camdata.CamDataset(files, stats, batch_size=2, shuffle=False)[0][0])
    # reading into a wrong-shape buffer is an error that names the file
    with pytest.raises(DataFileError, match=r"has shape \(32, 48, 16\); the other files have \(16, 48, 16\)"):
        camdata.read_sample(files[0], out=np.empty((16, 48, 16), np.float32))
