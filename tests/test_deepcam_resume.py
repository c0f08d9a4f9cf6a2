"""DeepCAM checkpointing: a run killed mid-epoch (SIGKILL) resumes and ends like an uninterrupted run.

`train_resumable` writes a step-level checkpoint (weights, LAMB moments and step counter, the
position in the epoch, the loss history) every 3 steps; `CamDataset`'s order depends only on its
seed and the epoch. A worker process trains 3 epochs x 4 steps; one copy runs through, another is
killed with SIGKILL after step 5 (its last checkpoint is step 3, in the middle of epoch 0) and is
started again with the same arguments. The resumed run must redo steps 4 and 5 and end with the
same weights and the same 12 losses as the uninterrupted run.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from solarcnn.deepcam.checkpoint import load_checkpoint, save_checkpoint
from solarcnn.errors import DataFileError
from solarcnn.synthetic import get

KILL_AFTER = 5

_WORKER = r'''
import json, sys, time
from pathlib import Path
import numpy as np
import keras
from solarcnn.deepcam import data as camdata
from solarcnn.deepcam.checkpoint import train_resumable
from solarcnn.deepcam.losses import WeightedCrossEntropy
from solarcnn.training.lamb import LAMB

data_dir, stats_path, ckpt, out_path, hang_after = sys.argv[1:6]
hang_after = int(hang_after)
keras.utils.set_random_seed(0)
inp = keras.Input((32, 48, 16))
h = inp
for i in (1, 2):
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name=f"conv{i}")(h)
    h = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"bn{i}")(h)
    h = keras.layers.ReLU()(h)
model = keras.Model(inp, keras.layers.Conv2D(3, 1, name="logits")(h))
model.compile(optimizer=LAMB(learning_rate=0.01), loss=WeightedCrossEntropy())
ds = camdata.CamDataset(data_dir, stats_path, batch_size=2, seed=21)


def on_step(state):
    if state["global_step"] == hang_after:       # tell the parent, then wait to be killed
        Path(out_path + ".ready").write_text(json.dumps(state))
        time.sleep(600)


state = train_resumable(model, ds, epochs=3, checkpoint_dir=ckpt, checkpoint_every=3, on_step=on_step)
np.savez(out_path + ".npz", *[np.asarray(w) for w in model.get_weights()])
json.dump(state, open(out_path, "w"))
'''



def _start(tmp_path, data, stats, name, hang_after=0):
    src = tmp_path / "worker.py"
    src.write_text(textwrap.dedent(_WORKER))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = tmp_path / f"{name}.json"
    proc = subprocess.Popen([sys.executable, str(src), str(data), str(stats), str(tmp_path / f"ckpt_{name}"),
                             str(out), str(hang_after)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, out


def _finish(proc, timeout=240):
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]


def test_killed_run_resumes_to_the_same_result(tmp_path, real_stats_path):
    stats_path = real_stats_path
    data = tmp_path / "data"
    get("cam5", seed=5, size=(32, 48)).write(data, 8, progress=False)
    full, full_out = _start(tmp_path, data, stats_path, "full")
    killed, killed_out = _start(tmp_path, data, stats_path, "killed", hang_after=KILL_AFTER)
    ready = Path(str(killed_out) + ".ready")
    deadline = time.time() + 240
    while not ready.exists():
        assert killed.poll() is None, killed.stderr.read()[-4000:]
        assert time.time() < deadline, "the worker did not reach the kill point"
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    at_kill = json.loads((tmp_path / "ckpt_killed" / "state.json").read_text())
    assert at_kill["global_step"] == 3 and at_kill["epoch"] == 0 and at_kill["batch"] == 3   # mid-epoch
    lost = json.loads(ready.read_text())["losses"]                 # steps 4 and 5 ran but were not saved
    assert len(lost) == KILL_AFTER

    resumed, resumed_out = _start(tmp_path, data, stats_path, "killed")
    _finish(full)
    _finish(resumed)
    a, b = json.loads(full_out.read_text()), json.loads(resumed_out.read_text())
    assert a["global_step"] == b["global_step"] == 12 and a["epoch"] == b["epoch"] == 3
    np.testing.assert_allclose(b["losses"], a["losses"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(lost, a["losses"][:KILL_AFTER], rtol=1e-6, atol=0)
    with np.load(str(full_out) + ".npz") as wa, np.load(str(resumed_out) + ".npz") as wb:
        diffs = [float(np.max(np.abs(wa[k] - wb[k]))) for k in wa.files]
    print("losses", a["losses"], "\nmax weight difference", max(diffs))
    assert len(diffs) == 12 and max(diffs) <= 1e-6
    assert a["losses"][-1] < a["losses"][0]                       # it did train


def test_checkpoint_mismatch_names_file(tmp_path):
    import keras

    def model(n):
        m = keras.Sequential([keras.Input((4,))] + [keras.layers.Dense(2) for _ in range(n)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    save_checkpoint(tmp_path, model(2), {"global_step": 1, "epoch": 0, "batch": 1, "losses": [1.0]})
    with pytest.raises(DataFileError, match=r"step00000001\.weights\.npz: holds 4 weight arrays; the model has 2"):
        load_checkpoint(tmp_path, model(1))
    assert load_checkpoint(tmp_path / "empty", model(1)) is None
