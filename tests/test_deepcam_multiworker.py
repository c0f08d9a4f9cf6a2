"""Scale-out on one machine: ``solarcnn deepcam train`` (what ``examples/slurm/*.sbatch`` run) with two processes
over loopback gives the single-process losses.

- JAX: two processes x 1 CPU device, joined by ``keras.distribution.initialize`` (``jax.distributed``) with
  the coordinator on 127.0.0.1 (``DEEPCAM_COORDINATOR``, ``SLURM_NTASKS``/``SLURM_PROCID`` as ``srun`` sets
  them: the environment of ``deepcam_jax.sbatch``), ``DataParallel`` over the 2 devices.
- TensorFlow: two workers of ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (127.0.0.1 ports, the format
  ``deepcam_tf_multiworker.sbatch`` writes), ``--sync-bn``.

Each compares the per-step training losses and the all-reduced validation IoU of the 2-process run with a
1-process run of the same global batch 4 (LAMB, the program's optimizer). The network is the program's
``--model smoke`` (two conv + BatchNorm layers; DeepLabv3+'s training step takes minutes to compile on a loaded
2-core CPU under JAX) on 32 x 48 x 16 synthetic CAM5-format files; everything else is the program the sbatch
files run: data sharding, the distributed step, the validation all-reduce, the metrics record.

Tolerance. The global batch of every step is the same set of samples in both runs (`CamDataset` shards by
stride), BatchNorm uses global-batch statistics (JAX's SPMD step; TensorFlow with ``--sync-bn``) and the loss
is the global mean, so the 2-process step is the same maths; only the order of float32 sums changes
(per-process partial sums, then an all-reduce), a relative change of order 1e-7 per reduction. The first loss
(same initial weights) is checked at `RTOL_FIRST` = 1e-5. Later steps go through LAMB, whose m / sqrt(v) and
trust ratio amplify rounding in near-zero gradients (see tests/test_deepcam_distributed.py, which keeps
Adam-type optimisers out for that reason); measured here at most ~1e-5 after 4 steps (TensorFlow, whose per-step
losses are also recovered from fit's running epoch mean), ~3e-7 on JAX; we require `RTOL` = 1e-4.

The test can fail: on each engine a third launch with the batch split differently — TensorFlow: the same two
workers with per-replica BatchNorm (no ``--sync-bn``, the reference's local BN), JAX: one process at global
batch 2 — gives a first loss that differs from the 2-process one by more than 10 x `RTOL_FIRST` (measured:
1.6e-4 for TensorFlow's per-replica BatchNorm, whose effect on this small net's loss is small).
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from solarcnn.course.cli import main as cli_main
from solarcnn.deepcam import train_multiworker

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / "examples" / "slurm"
RTOL_FIRST, RTOL = 1e-5, 1e-4
TIMEOUT = 420          # seconds for one launch (all its processes together), on a loaded 2-core CPU
# the program's options of the tiny run: 2 epochs of 2 steps (8 training files, global batch 4)
TINY = ["--global-batch", "4", "--lr", "0.002", "--warmup-steps", "0", "--milestones", "--epochs", "2",
        "--model", "smoke", "--checkpoint-every", "100"]


@pytest.fixture(scope="module")
def cam_data(tmp_path_factory):
    """10 synthetic CAM5-format files, split 8/1/1 by the CLI, with their stats.h5."""
    root = tmp_path_factory.mktemp("cam5mw")
    assert cli_main(["deepcam", "generate", str(root / "all"), "-n", "10", "--size", "32", "48", "--seed", "3"]) == 0
    assert cli_main(["deepcam", "split", str(root / "all"), str(root / "data")]) == 0
    assert cli_main(["deepcam", "summarize", str(root / "data" / "train"), str(root / "data" / "stats.h5")]) == 0
    return root / "data"


def _free_ports(n):
    """`n` distinct free TCP ports on 127.0.0.1 (bound together, then released for the processes)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture
def launch(tmp_path):
    """Start ``python -m solarcnn deepcam train DATA ...`` processes; all are killed at teardown."""
    procs = []

    def start(name, data, options, backend, env_extra):
        env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu",
               "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **env_extra}
        for key in ("TF_CONFIG", "SLURM_NTASKS", "SLURM_PROCID", "DEEPCAM_COORDINATOR"):
            if key not in env_extra:
                env.pop(key, None)
        log = open(tmp_path / f"{name}.log", "w")
        cmd = [sys.executable, "-m", "solarcnn", "deepcam", "train", str(data), *options,
               # one checkpoint folder per launch, shared by its processes (as $CKPT in the sbatch files)
               "--checkpoint-dir", str(tmp_path / f"ckpt-{name.rstrip('0123456789')}"),
               "--metrics-json", str(tmp_path / f"{name}.json")]
        procs.append((name, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log))

    def wait():
        """Wait for every started process (bounded); return each run's metrics record by name."""
        deadline = time.monotonic() + TIMEOUT
        for name, proc, _ in procs:
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not finish in {TIMEOUT} s; log:\n{_tail(tmp_path / f'{name}.log')}")
            assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{_tail(tmp_path / f'{name}.log')}"
        return {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}

    yield start, wait
    for _, proc, log in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def _tail(path, n=3000):
    return Path(path).read_text(errors="replace")[-n:]


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _check_same(multi, single):
    assert multi["processes"] == 2 and single["processes"] == 1
    assert len(multi["losses"]) == len(single["losses"]) == 4          # 2 epochs x 2 steps
    print("single", single["losses"], single["val_iou"], "\nmulti ", multi["losses"], multi["val_iou"],
          "\nrel first", _rel(multi["losses"][0], single["losses"][0]), "all", _rel(multi["losses"], single["losses"]))
    assert _rel(multi["losses"][0], single["losses"][0]) < RTOL_FIRST
    assert _rel(multi["losses"], single["losses"]) < RTOL
    # validation: 1 file, held by process 0 alone (process 1's shard is empty), sums all-reduced
    np.testing.assert_allclose(multi["val_iou"], single["val_iou"], rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(multi["val_iou_per_class"], single["val_iou_per_class"], rtol=RTOL, atol=1e-6)


def test_jax_two_processes_match_one(cam_data, launch):
    pytest.importorskip("jax")
    start, wait = launch
    (port,) = _free_ports(1)
    start("single", cam_data, TINY, "jax", {})
    for rank in (0, 1):     # deepcam_jax.sbatch: DEEPCAM_COORDINATOR=host:port, srun sets SLURM_NTASKS/PROCID
        start(f"multi{rank}", cam_data, TINY, "jax",
              {"DEEPCAM_COORDINATOR": f"127.0.0.1:{port}", "SLURM_NTASKS": "2", "SLURM_PROCID": str(rank)})
    half = [v if v != "4" else "2" for v in TINY]          # global batch 2: another batch split
    start("half", cam_data, half, "jax", {})
    runs = wait()
    assert "multi1" not in runs                              # only process 0 writes the record
    assert runs["multi0"]["replicas"] == 2 and runs["single"]["replicas"] == 1
    _check_same(runs["multi0"], runs["single"])
    print("half  ", runs["half"]["losses"])
    assert _rel(runs["half"]["losses"][0], runs["multi0"]["losses"][0]) > 10 * RTOL_FIRST


def test_tf_two_workers_match_one(cam_data, launch):
    start, wait = launch
    ports = _free_ports(4)
    start("single", cam_data, TINY + ["--sync-bn"], "tensorflow", {})
    for tag, options, pair in (("multi", TINY + ["--sync-bn"], ports[:2]), ("local", TINY, ports[2:])):
        workers = ", ".join(f'"127.0.0.1:{p}"' for p in pair)
        for rank in (0, 1):   # the TF_CONFIG deepcam_tf_multiworker.sbatch writes, with loopback workers
            config = f'{{"cluster": {{"worker": [{workers}]}}, "task": {{"type": "worker", "index": {rank}}}}}'
            start(f"{tag}{rank}", cam_data, options, "tensorflow", {"TF_CONFIG": config})
    runs = wait()
    assert runs["multi0"]["replicas"] == 2 and runs["multi0"]["sync_bn"]
    _check_same(runs["multi0"], runs["single"])
    # per-replica BatchNorm: each worker normalises its own half batch, so the losses move well off
    assert runs["local0"]["processes"] == 2 and not runs["local0"]["sync_bn"]
    print("local ", runs["local0"]["losses"])
    assert _rel(runs["local0"]["losses"][0], runs["multi0"]["losses"][0]) > 10 * RTOL_FIRST


def _sbatch_command(path):
    """The options the sbatch file passes to ``solarcnn deepcam train``, with its shell variables filled in."""
    text = path.read_text()
    match = re.search(r"solarcnn deepcam train ((?:.*\\\n)*.*)", text)
    assert match, f"{path.name} does not run 'solarcnn deepcam train'"
    line = match.group(1).replace("\\\n", " ")
    line = line.replace('"$DATA"', "data").replace('"$GLOBAL_BATCH"', "2048").replace('"$CKPT"', "ckpt")
    return line.replace("'", "").split()


@pytest.mark.parametrize("name", ["deepcam_jax.sbatch", "deepcam_tf_multiworker.sbatch"])
def test_sbatch_files_run_the_same_program(name):
    options = _sbatch_command(SLURM / name)
    args = train_multiworker.parse_args(options)       # every option the sbatch passes exists
    assert args.global_batch == 2048 and args.model == "deeplabv3plus" and args.num_middle_blocks == 16
    wrapper = (SLURM / "deepcam_train.py").read_text()
    assert "from solarcnn.deepcam.train_multiworker import main" in wrapper
    assert "def " not in wrapper and "sys.exit(main())" in wrapper       # a wrapper, no logic of its own


def test_launch_rank_sources(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "3")
    assert train_multiworker.launch_rank("jax") == (4, 3)
    assert train_multiworker.launch_rank("jax", 2, 1) == (2, 1)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert train_multiworker.launch_rank("tensorflow") == (2, 1)
    with pytest.raises(ValueError, match="disagrees with TF_CONFIG"):
        train_multiworker.launch_rank("tensorflow", 3, None)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        train_multiworker.launch_rank("tensorflow")
    with pytest.raises(ValueError, match="rank < processes"):
        train_multiworker.launch_rank("jax", 2, 2)
