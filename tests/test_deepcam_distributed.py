"""DeepCAM data parallelism: 2 logical CPU devices vs 1 device with the same global batch.

Each engine runs in a subprocess (the device count must be fixed before the backend starts):
JAX with ``keras.distribution.DataParallel`` over 2 host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``) and TensorFlow with
``tf.distribute.MirroredStrategy`` over 2 logical CPUs. Both train a small conv net with
two BatchNorm layers (32 x 48 x 16 input, the reference weighted cross-entropy, SGD with
momentum) through the package path (`CamDataset` -> `train_resumable` ->
`distribute.train_on_batch`), from the same initial weights, for 6 steps of global batch 4.
(A small conv net, not a reduced DeepLabv3+: compiling DeepLabv3+'s step twice takes minutes on
a loaded 2-core CPU under JAX.)

Tolerance. With global-batch BatchNorm statistics the 2-device step is the same maths as the
1-device step; only the order of float32 sums changes (per-replica partial sums, then an
all-reduce), a relative change of order 1e-7 per reduction that six SGD steps carry forward
(SGD is linear in the gradient; Adam-type optimisers such as LAMB amplify rounding in near-zero
gradients through m / sqrt(v) and are kept out of the equivalence check).
Measured: at most ~1e-6 on both engines; we require a relative loss difference below 1e-5 and check that the test
can fail: per-replica BatchNorm (the reference's local BN) changes the first loss by far more than that, and that
first loss must equal the mean of the two half-batch losses computed on one device (on a batch
whose halves are put on different scales so that the two kinds of statistics differ clearly).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from solarcnn.synthetic import get

RTOL = 1e-5

_COMMON = r'''
import json, sys
import numpy as np
import keras
from solarcnn.deepcam import data as camdata
from solarcnn.deepcam import distribute
from solarcnn.deepcam.checkpoint import train_resumable
from solarcnn.deepcam.losses import WeightedCrossEntropy

data_dir, stats_path, out_path, work = sys.argv[1:5]
EPOCHS, BATCH = 3, 4
files = camdata.list_files(data_dir)


def build(sync=False):
    """A small segmentation net with two BatchNorm layers (reference BN epsilon and momentum)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 48, 16), name="fields")
    h = inp
    for i in (1, 2):
        h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, synchronized=sync, name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
    out = keras.layers.Conv2D(3, 1, name="logits")(h)
    m = keras.Model(inp, out, name="small_seg")
    m.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=WeightedCrossEntropy())
    return m


def train(model, tag):
    ds = camdata.CamDataset(files, stats_path, batch_size=BATCH, seed=5)
    return train_resumable(model, ds, epochs=EPOCHS, checkpoint_dir=f"{work}/{tag}", checkpoint_every=100)["losses"]


def first_losses(model, x, y):
    """Training-mode losses on one device: the whole batch (global BN statistics) and each half with its
    own statistics (per-replica BN)."""
    loss = WeightedCrossEntropy()
    full = float(loss(y, model(x, training=True)))
    return full, [float(loss(y[i:i + 2], model(x[i:i + 2], training=True))) for i in (0, 2)]


def contrast_batch(x):
    """The first batch with its two halves on different scales, so per-replica statistics differ clearly."""
    xc = x.copy()
    xc[2:] = 2.0 * xc[2:] + 0.5
    return xc


def baseline(out):
    """The single-device model, its initial weights and the first batch (halves on different scales); records
    the batch's whole and half-batch losses in `out`, then restores the initial weights."""
    base = build()
    w0 = base.get_weights()
    x0, y0 = camdata.CamDataset(files, stats_path, batch_size=BATCH, seed=5)[0]
    xc = contrast_batch(x0)
    out["full_loss"], out["half_losses"] = first_losses(base, xc, y0)
    base.set_weights(w0)
    return base, w0, xc, y0
'''

_JAX = _COMMON + r'''
out = {}
base, w0, xc, y0 = baseline(out)
out["single"] = train(base, "single")
scope = distribute.data_parallel(2)
out["replicas"] = distribute.num_replicas()
layout = keras.distribution.distribution().get_data_layout((BATCH, 32, 48, 16))
out["data_axes"] = [str(a) for a in layout.axes]
with scope:
    dp = build()
dp.set_weights(w0)
out["bn_synced_vars"] = distribute.average_bn_statistics(dp)
out["dual"] = train(dp, "dual")
with scope:
    dp2 = build()
dp2.set_weights(w0)
out["dual_contrast_first"] = distribute.train_on_batch(dp2, xc, y0)
json.dump(out, open(out_path, "w"))
'''

_TF = _COMMON + r'''
from solarcnn.deepcam import distribute_tf
distribute_tf.logical_cpus(2)
out = {}
base, w0, xc, y0 = baseline(out)
f = keras.Model(base.input, base.get_layer("conv1").output).predict(xc, verbose=0).astype(np.float64)
out["expected_copies"] = [(0.9 + 0.1 * f[i:i + 2].var(axis=(0, 1, 2))).tolist() for i in (0, 2)]
out["single"] = train(base, "single")
with distribute.data_parallel(2):   # a fresh MirroredStrategy scope per model (scopes are not reusable)
    out["replicas"] = distribute.num_replicas()
    sync = build(sync=True)
sync.set_weights(w0)
out["dual_sync_bn"] = train(sync, "sync")
# per-replica BN (the reference's local BN): first step by hand, then the epoch-end average
with distribute.data_parallel(2):
    local = build(sync=False)
local.set_weights(w0)
out["local_first"] = distribute.train_on_batch(local, xc, y0)
bn = local.get_layer("bn1")
copies = distribute_tf.replica_values(bn.moving_variance)
out["copies"] = [c.tolist() for c in copies]
expected = np.mean(copies, axis=0)
out["bn_synced_vars"] = distribute.average_bn_statistics(local)
after = distribute_tf.replica_values(bn.moving_variance)
out["after_sync_err"] = max(float(np.max(np.abs(a - expected))) for a in after)
# the Keras trap: model.train_on_batch under a strategy gives each replica the whole batch
with distribute.data_parallel(2):
    trap = build(sync=False)
trap.set_weights(w0)
out["trap_first"] = float(trap.train_on_batch(xc, y0))
json.dump(out, open(out_path, "w"))
'''


@pytest.fixture(scope="module")
def cam_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cam5dp")
    get("cam5", seed=11, size=(32, 48)).write(root, 8, progress=False)
    return root



def _run(script, backend, cam_files, stats_path, tmp_path, extra_env=None):
    src = tmp_path / f"worker_{backend}.py"
    src.write_text(textwrap.dedent(script))
    out = tmp_path / f"{backend}.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "2", **(extra_env or {})}
    proc = subprocess.run([sys.executable, str(src), str(cam_files), str(stats_path), str(out), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def test_jax_data_parallel_matches_one_device(cam_files, real_stats_path, tmp_path):
    stats_path = real_stats_path
    pytest.importorskip("jax")
    res = _run(_JAX, "jax", cam_files, stats_path, tmp_path,
               {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    print("jax single", res["single"], "\njax 2 devices", res["dual"], "\nrel", _rel(res["dual"], res["single"]))
    assert res["replicas"] == 2
    assert res["data_axes"][0] == "batch"             # the batch axis is sharded over the 2 devices
    assert len(res["single"]) == len(res["dual"]) == 6
    assert _rel(res["dual"], res["single"]) < RTOL
    # SPMD step: BatchNorm sees the global batch, so there are no per-replica statistics to average,
    # and the 2-device loss is not the per-replica-BN loss
    assert res["bn_synced_vars"] == 0
    assert _rel(res["dual_contrast_first"], res["full_loss"]) < RTOL
    assert _rel(res["full_loss"], np.mean(res["half_losses"])) > 100 * RTOL


def test_tf_mirrored_matches_one_device_and_local_bn_differs(cam_files, real_stats_path, tmp_path):
    stats_path = real_stats_path
    res = _run(_TF, "tensorflow", cam_files, stats_path, tmp_path)
    print({k: v for k, v in res.items()})
    assert res["replicas"] == 2
    assert len(res["single"]) == len(res["dual_sync_bn"]) == 6
    # synchronized BN: same maths as one device with the same global batch
    assert _rel(res["dual_sync_bn"], res["single"]) < RTOL
    # per-replica BN: the first loss is the mean of the two half-batch losses (so the batch really was
    # split), which differs from the global-batch loss by far more than the tolerance
    assert _rel(res["local_first"], np.mean(res["half_losses"])) < RTOL
    assert _rel(res["local_first"], res["full_loss"]) > 100 * RTOL
    # each replica's running variance follows its own half batch (0.9 * 1 + 0.1 * var(half)), and the
    # epoch-end sync replaces both by their mean
    np.testing.assert_allclose(res["copies"], res["expected_copies"], rtol=0, atol=2e-6)
    assert np.max(np.abs(np.subtract(*res["expected_copies"]))) > 1e-5
    assert res["bn_synced_vars"] > 0 and res["after_sync_err"] < 1e-6
    # keras' own train_on_batch under the strategy does not split the batch (the reason for
    # distribute.train_on_batch): its first loss is the one-device, global-statistics loss
    assert _rel(res["trap_first"], res["full_loss"]) < RTOL
