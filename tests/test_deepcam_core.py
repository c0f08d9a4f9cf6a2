"""DeepCAM track: loss, metric, optimiser, schedule, data format, stats, split, loader errors."""

import h5py
import numpy as np
import pytest

from solarcnn.deepcam import data as camdata
from solarcnn.deepcam.losses import WeightedCrossEntropy, class_weights, weighted_cross_entropy_np
from solarcnn.deepcam.schedule import WarmupMultiStep, reference_schedule
from solarcnn.errors import DataFileError
from solarcnn.metrics import deepcam_iou
from solarcnn.metrics.deepcam import all_background_iou, deepcam_iou_per_class
from solarcnn.synthetic import get
from solarcnn.training.lamb import LAMB




@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("cam5")
    get("cam5", seed=3, size=(32, 48)).write(root / "all", 10, progress=False)
    return root


def test_class_weights_and_loss_hand_cases():
    np.testing.assert_allclose(class_weights(), [1.001729912, 2.614611224, 1.716419748], rtol=1e-6)
    y, z = np.array([[0, 1]]), np.zeros((1, 2, 3), "float32")
    assert float(WeightedCrossEntropy()(y, z)) == pytest.approx(1.986478, abs=1e-6)
    assert float(WeightedCrossEntropy(reduction_mode="weighted_mean")(y, z)) == pytest.approx(1.098612, abs=1e-6)
    rng = np.random.default_rng(0)
    y, z = rng.integers(0, 3, (2, 4, 5)), rng.normal(size=(2, 4, 5, 3)).astype("float32")
    assert float(WeightedCrossEntropy()(y, z)) == pytest.approx(weighted_cross_entropy_np(y, z), rel=1e-5)
    with pytest.raises(ValueError, match="'sum'"):
        WeightedCrossEntropy(reduction_mode="sum")


def test_iou_hand_cases_and_absent_class_rule():
    per = deepcam_iou_per_class(np.array([[0, 0, 1, 2]]), np.array([[0, 1, 1, 0]]))
    np.testing.assert_allclose(per, [[1 / 3, 1 / 2, 0.0]])
    assert deepcam_iou(np.array([[0, 0, 1, 2]]), np.array([[0, 1, 1, 0]])) == pytest.approx(0.277778, abs=1e-6)
    assert deepcam_iou(np.zeros((1, 4)), np.zeros((1, 4))) == 1.0
    # per sample, then averaged: sample 1 perfect (1.0), sample 2 the hand case
    y = np.array([[[0, 0, 0, 0]], [[0, 0, 1, 2]]])          # (batch 2, H 1, W 4)
    p = np.array([[[0, 0, 0, 0]], [[0, 1, 1, 0]]])
    assert deepcam_iou(y, p) == pytest.approx((1.0 + 0.277778) / 2, abs=1e-6)
    logits = np.eye(3)[p].astype("float32")
    assert deepcam_iou(y, logits) == pytest.approx(deepcam_iou(y, p))
    assert all_background_iou(y) == pytest.approx((1.0 + (2 / 4 + 0 + 0) / 3) / 2)
    with pytest.raises(ValueError, match=r"\(1, 4\) and \(1, 3\)"):
        deepcam_iou(np.zeros((1, 4)), np.zeros((1, 3), dtype=int))


def test_keras_iou_metric_matches_numpy():
    from solarcnn.metrics.deepcam import DeepCAMIoU

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, (3, 6, 7))
    z = rng.normal(size=(3, 6, 7, 3)).astype("float32")
    m = DeepCAMIoU()
    m.update_state(y, z)
    assert float(m.result()) == pytest.approx(deepcam_iou(y, z), abs=1e-6)


def test_lamb_reference_steps():
    import keras

    p = keras.Variable(np.array([3.0, 4.0], "float32"))
    LAMB(0.01, weight_decay=0.01).apply([np.array([0.6, 0.8], "float32")], [p])
    np.testing.assert_allclose(p.numpy(), [2.964816, 3.964474], atol=1e-6)
    for clip, expected in ((1.0, [2.917641, 3.949467]), (None, [2.928249, 3.931104])):
        p = keras.Variable(np.array([3.0, 4.0], "float32"))
        opt = LAMB(0.01, weight_decay=0.01, max_grad_norm=clip)
        opt.apply([np.array([6.0, 8.0], "float32")], [p])
        opt.apply([np.array([0.3, -0.4], "float32")], [p])
        np.testing.assert_allclose(p.numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="global_clipnorm=2.0"):
        LAMB(global_clipnorm=2.0)


def test_schedule_at_milestones():
    s = WarmupMultiStep(0.0055, [800], 0.1, warmup_steps=400)
    for step, lr in ((0, 1.375e-5), (398, 0.00548625), (1199, 0.00548625), (1200, 0.000548625)):
        assert s.lr_at(step) == pytest.approx(lr, rel=1e-9)
        assert float(s(step)) == pytest.approx(lr, rel=1e-6)
    nowarm = WarmupMultiStep(0.001, [8192, 16384])            # torch MultiStepLR(last_epoch=0)
    assert nowarm.lr_at(8190) == pytest.approx(0.001) and nowarm.lr_at(8191) == pytest.approx(1e-4)
    intended = reference_schedule(2048, faithful=False)
    assert intended.lr_at(399) == pytest.approx(0.0055) and intended.lr_at(1200) == pytest.approx(0.00055)
    with pytest.raises(ValueError, match=r"\[800, 100\]"):
        WarmupMultiStep(0.1, [800, 100])


def test_split_counts_reference():
    assert camdata.split_counts(151583) == (121266, 15158, 15159)


def test_generator_format_and_physics(small_set):
    files = camdata.list_files(small_set / "all")
    assert [f.name for f in files][:2] == ["data-2106-01-01-00-1.h5", "data-2106-01-01-03-1.h5"]
    with h5py.File(files[0], "r") as fh:
        assert fh["climate/data"].shape == (32, 48, 16) and fh["climate/data"].dtype == np.float32
        assert fh["climate/labels_0"].shape == (32, 48) and fh["climate/labels_0"].dtype == np.float32
        assert fh["climate/data_stats"].shape == (4, 16) and fh["climate/labels_0_stats"].shape == (7, 1)
    big = get("cam5", seed=5, size=(192, 288))
    found = {1: 0, -1: 0}
    for i in range(6):
        s = big.sample(i)
        assert s.data.dtype == np.float32 and set(np.unique(s.label)) <= {0.0, 1.0, 2.0}
        for tc in s.meta["cyclones"]:
            # circulation around the centre: the tangential wind on a ring has the hemisphere's sign
            lat, lon = big.lat, big.lon
            ring = []
            for ang in np.linspace(0, 2 * np.pi, 16, endpoint=False):
                la = tc["lat"] + 2.0 * np.sin(ang)
                lo = (tc["lon"] + 2.0 * np.cos(ang) / np.cos(np.deg2rad(tc["lat"]))) % 360
                i_, j_ = np.argmin(abs(lat - la)), np.argmin(abs((lon - lo + 180) % 360 - 180))
                u, v = s.data[i_, j_, 1], s.data[i_, j_, 2]
                ring.append(-u * np.sin(ang) + v * np.cos(ang))    # counter-clockwise component
            found[int(np.sign(tc["lat"]))] += 1
            assert np.sign(np.mean(ring)) == np.sign(tc["lat"]), tc
            i_, j_ = np.argmin(abs(lat - tc["lat"])), np.argmin(abs(lon - tc["lon"]))
            assert s.data[i_, j_, 7] < np.median(s.data[..., 7]) - 1000     # pressure minimum
            assert s.label[i_, j_] == 1
    assert found[1] and found[-1]
    lo = np.array(get("cam5").sample(0).data.min(axis=(0, 1)))
    assert np.all(lo >= np.array([2.6e-2, -88.4, -84.7, -78.6, -77.8, 0, 48330, 87595, 183.5, 208.3, -1e-18, 109.6,
                                  94.1, -0.38, 9952, 20.3]))


def test_grid_matches_real_pickle():
    from solarcnn.synthetic.cam5 import cam5_grid, load_grid_pickle

    from solarcnn.data import fetch

    path = fetch("cam5_grid", "ClimDeepLearn_lat_lon.pkl")
    lat, lon = load_grid_pickle(path)
    glat, glon = cam5_grid()
    np.testing.assert_allclose(lat, glat, atol=1e-9)
    np.testing.assert_allclose(lon, glon, atol=1e-9)


def test_stats_round_trip_and_summarize(small_set, tmp_path, real_stats_path):
    real = camdata.read_stats(real_stats_path)
    assert real["count"] == 121266
    out = camdata.write_stats(tmp_path / "copy.h5", (real["count"], real["mean"], real["sqmean"], real["minval"],
                                                     real["maxval"]))
    again = camdata.read_stats(out)
    for k in ("mean", "sqmean", "minval", "maxval"):
        np.testing.assert_array_equal(again[k], real[k])
    with h5py.File(real_stats_path, "r") as a, h5py.File(out, "r") as b:
        assert {k: (a["climate"][k].shape, a["climate"][k].dtype) for k in a["climate"]} == \
               {k: (b["climate"][k].shape, b["climate"][k].dtype) for k in b["climate"]}
    parts = camdata.split_files(small_set / "all", tmp_path / "split")
    assert [len(v) for v in parts.values()] == [8, 1, 1]
    assert all((tmp_path / "split" / "train" / p.name).is_symlink() for p in parts["train"])
    s1 = camdata.summarize(tmp_path / "split" / "train", tmp_path / "s1.h5", n_jobs=1)
    s2 = camdata.summarize(tmp_path / "split" / "train", tmp_path / "s2.h5", n_jobs=2)
    a, b = camdata.read_stats(s1), camdata.read_stats(s2)
    assert a["count"] == 8
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-6)
    xs = np.stack([camdata.read_sample(p)[0] for p in parts["train"]]).astype(np.float64)
    np.testing.assert_allclose(a["mean"], xs.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(a["sqmean"], (xs ** 2).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(a["minval"], xs.min(axis=(0, 1, 2)).astype(np.float32))
    edges = np.stack([real["minval"], real["maxval"]])
    np.testing.assert_allclose(camdata.normalize(edges, real), [np.zeros(16), np.ones(16)], atol=1e-6)


def test_loader_batches_shards_and_order(small_set, real_stats_path):
    files = camdata.list_files(small_set / "all")
    ds = camdata.CamDataset(files, real_stats_path, batch_size=2, seed=7)
    x, y = ds[0]
    assert x.shape == (2, 32, 48, 16) and x.dtype == np.float32 and y.shape == (2, 32, 48)
    assert 0.0 <= x.min() and x.max() <= 1.0
    shards = [camdata.CamDataset(files, real_stats_path, batch_size=1, seed=7, num_shards=3, shard_index=k)
              for k in range(3)]
    seen = [tuple(s._indices()) for s in shards]
    assert sum(len(s) for s in seen) == 9 and len(set(sum(seen, ()))) == 9     # disjoint, 10 // 3 * 3
    order0 = ds._indices().copy()
    ds.on_epoch_end()
    assert not np.array_equal(order0, ds._indices())
    ds.set_epoch(0)
    np.testing.assert_array_equal(order0, ds._indices())


def _write(path, data, labels=None, key="climate/data"):
    with h5py.File(path, "w") as fh:
        fh.create_dataset(key, data=data)
        if labels is not None:
            fh.create_dataset("climate/labels_0", data=labels)
    return path


def test_loader_errors_name_file_and_problem(tmp_path, real_stats_path):
    ok = np.zeros((16, 16, 16), "float32")
    lab = np.zeros((16, 16), "float32")
    cases = {
        "nolabel.h5": (ok, None, "climate/data", "dataset 'climate/labels_0' missing"),
        "channels.h5": (np.zeros((16, 16, 5), "float32"), lab, "climate/data", "has 5 channels; expected 16"),
        "rank.h5": (np.zeros((16, 16), "float32"), lab, "climate/data", r"must be \(height, width, channels\)"),
        "nan.h5": (np.where(np.arange(16) == 6, np.nan, 0)[None, None, :] * np.ones((16, 16, 1), "float32"), lab,
                   "climate/data", r"NaN or inf values \(channel index \[6\]\)"),
        "badlabel.h5": (ok, lab + 7, "climate/data", "must hold the classes 0, 1, 2"),
        "shape.h5": (ok, np.zeros((8, 16), "float32"), "climate/data", r"has shape \(8, 16\); expected \(16, 16\)"),
    }
    for name, (data, labels, key, message) in cases.items():
        path = _write(tmp_path / name, data, labels, key)
        with pytest.raises(DataFileError, match=message) as err:
            camdata.read_sample(path)
        assert str(path) in str(err.value)
    with pytest.raises(DataFileError, match="file not found"):
        camdata.read_sample(tmp_path / "absent.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(DataFileError, match="not a readable HDF5 file"):
        camdata.read_sample(tmp_path / "junk.h5")
    # a file whose shape differs from the others, found while streaming
    a = _write(tmp_path / "a.h5", ok, lab)
    b = _write(tmp_path / "b.h5", np.zeros((32, 16, 16), "float32"), np.zeros((32, 16), "float32"))
    ds = camdata.CamDataset([a, b], real_stats_path, batch_size=2, shuffle=False)
    with pytest.raises(DataFileError, match=r"b.h5: 'climate/data' has shape \(32, 16, 16\); the other files"):
        ds[0]
    bad = _write(tmp_path / "stats_bad.h5", np.zeros(3), None, key="climate/mean")
    with pytest.raises(DataFileError, match="stats_bad.h5: dataset 'climate/count' missing"):
        camdata.read_stats(bad)


def test_fast_read_paths_equal_plain_h5py(tmp_path, real_stats_path):
    """The raw-offset read, the blockwise normalisation and the threaded batch give h5py + NumPy's values."""
    rng = np.random.default_rng(0)
    stats = camdata.read_stats(real_stats_path)
    lo, hi = stats["minval"], stats["maxval"]
    data = (lo + (hi - lo) * rng.random((40, 56, 16))).astype("float32")   # 35,840 values: several blocks
    lab = rng.integers(0, 3, (40, 56)).astype("float32")
    contiguous = _write(tmp_path / "data-a.h5", data, lab)
    with h5py.File(tmp_path / "data-b.h5", "w") as fh:                     # chunked + compressed: h5py path
        fh.create_dataset("climate/data", data=data, chunks=(8, 8, 16), compression="gzip")
        fh.create_dataset("climate/labels_0", data=lab)
    with h5py.File(contiguous) as fh:
        assert camdata._raw_offset(fh["climate/data"]) is not None
    with h5py.File(tmp_path / "data-b.h5") as fh:
        assert camdata._raw_offset(fh["climate/data"]) is None
    expected = camdata.normalize(data, stats)
    old_block = camdata._BLOCK_BYTES
    camdata._BLOCK_BYTES = 4096            # many blocks, and a last partial one
    try:
        for path in (contiguous, tmp_path / "data-b.h5"):
            raw, y = camdata.read_sample(path)
            np.testing.assert_array_equal(raw, data)
            np.testing.assert_array_equal(y, lab.astype(np.int32))
            normed, _ = camdata.read_sample(path, normalize=camdata.minmax_params(stats))
            np.testing.assert_array_equal(normed, expected)
        serial = camdata.CamDataset([contiguous, tmp_path / "data-b.h5"], stats, batch_size=2, shuffle=False,
                                    read_threads=1)[0]
        threaded = camdata.CamDataset([contiguous, tmp_path / "data-b.h5"], stats, batch_size=2, shuffle=False,
                                      read_threads=2)[0]
    finally:
        camdata._BLOCK_BYTES = old_block
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(serial[0][0], expected)
    # NaN in a later block is still found and named
    bad = data.copy()
    bad[39, 55, 11] = np.inf
    path = _write(tmp_path / "late_inf.h5", bad, lab)
    with pytest.raises(DataFileError, match=r"late_inf.h5: .*NaN or inf values \(channel index \[11\]\)"):
        camdata.read_sample(path)
