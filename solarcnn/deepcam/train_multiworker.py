"""Data-parallel DeepCAM training, one process per node (or per GPU): ``solarcnn deepcam train``.

    KERAS_BACKEND=jax        srun solarcnn deepcam train DATA --global-batch 2048 ...
    KERAS_BACKEND=tensorflow srun solarcnn deepcam train DATA --global-batch 2048 ...

The one entry point of multi-process DeepCAM training: ``examples/slurm/*.sbatch`` run it (and
``examples/slurm/deepcam_train.py`` is a thin wrapper of `main`), and ``tests/test_deepcam_multiworker.py``
runs the same program with two processes over loopback (127.0.0.1) on a CPU.

DATA holds ``train/``, ``validation/`` (``data-*.h5`` in the benchmark layout) and ``stats.h5``, as written by
``solarcnn deepcam generate | split | summarize``. Defaults are the batch-2048 reference recipe (LAMB, lr 0.0055,
warmup 400, milestone 800, weight decay 0.01, global gradient clipping at 1) and the reference network; training
stops when the mean validation IoU reaches the MLPerf target 0.82 or after ``--epochs``.

Processes (`launch_rank`): with ``KERAS_BACKEND=tensorflow`` and ``TF_CONFIG`` set, the worker list and this
worker's index come from ``TF_CONFIG``; otherwise ``--num-processes``/``--process-id``, else SLURM
(``SLURM_NTASKS``/``SLURM_PROCID``, set by ``srun``), else one process.

JAX backend: ``keras.distribution.initialize`` (a wrapper of ``jax.distributed.initialize``) joins the processes
(coordinator ``--coordinator`` / ``$DEEPCAM_COORDINATOR``); ``solarcnn.deepcam.distribute.data_parallel`` shards
every batch over all devices of all processes. Each process reads only its own shard of the training files
(local batch = global batch / processes; `CamDataset` shards by stride, so the union of the processes' k-th
batches is the single-process k-th batch) and checkpoints with mid-epoch resume
(``solarcnn.deepcam.checkpoint.train_resumable``). BatchNorm statistics are those of the global batch.

TensorFlow backend: ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (written by the sbatch file), else
``MirroredStrategy`` over the local GPUs (or the CPU). The input pipeline is built per worker with
``distribute_datasets_from_function`` (each worker reads its own shard, per-replica batch = global / replicas);
resume is per epoch (``keras.callbacks.BackupAndRestore``). BatchNorm is per replica (the reference's default)
unless ``--sync-bn`` (global-batch statistics, the same maths as one device).

Validation follows the reference: files split into contiguous shards per process, batch 1, per-sample IoU summed
and all-reduced, mean over all validation samples.

``--metrics-json PATH`` (process 0) records the run: backend, processes, replicas, the loss of every optimizer
step and the validation IoU of every epoch (written after every epoch, atomically).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..utils import atomic_write_text

DESCRIPTION = __doc__.split("\n\n")[0]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``solarcnn deepcam train`` (also those of ``examples/slurm/deepcam_train.py``)."""
    p.add_argument("data", type=Path, help="folder with train/, validation/ and stats.h5")
    p.add_argument("--stats", type=Path, default=None, help="stats.h5 (default DATA/stats.h5)")
    p.add_argument("--global-batch", type=int, default=2048, help="samples per optimizer step over all devices")
    p.add_argument("--lr", type=float, default=None, help="base LR (default: the reference recipe of the batch)")
    p.add_argument("--warmup-steps", type=int, default=None)
    p.add_argument("--milestones", type=int, nargs="*", default=None)
    p.add_argument("--epochs", type=int, default=200, help="maximum epochs (reference: 200)")
    p.add_argument("--target-iou", type=float, default=0.82)
    p.add_argument("--model", choices=("deeplabv3plus", "smoke"), default="deeplabv3plus",
                   help="deeplabv3plus (the benchmark's network, default) or smoke: a two-layer conv net with "
                        "BatchNorm (`build_smoke_net`) that checks a launch in seconds")
    p.add_argument("--num-middle-blocks", type=int, default=16)
    p.add_argument("--width-multiplier", type=float, default=1.0)
    p.add_argument("--sync-bn", action="store_true",
                   help="synchronized BatchNorm (global-batch statistics; TensorFlow, JAX always has them)")
    p.add_argument("--mixed-precision", action="store_true", help="bf16 compute (mixed_bfloat16)")
    p.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"))
    p.add_argument("--checkpoint-every", type=int, default=20, help="optimizer steps between checkpoints (JAX)")
    p.add_argument("--coordinator", default=os.environ.get("DEEPCAM_COORDINATOR"),
                   help="host:port of process 0 (JAX multi-process; default $DEEPCAM_COORDINATOR)")
    p.add_argument("--num-processes", type=int, default=None,
                   help="number of processes (default: TF_CONFIG, else $SLURM_NTASKS, else 1)")
    p.add_argument("--process-id", type=int, default=None,
                   help="this process's rank (default: TF_CONFIG, else $SLURM_PROCID, else 0)")
    p.add_argument("--metrics-json", type=Path, default=None,
                   help="process 0 writes the per-step losses and per-epoch validation IoU here")
    p.add_argument("--seed", type=int, default=333, help="the reference default; MLPerf wants a new one per run")
    return p


def parse_args(argv=None):
    return add_arguments(argparse.ArgumentParser(description=DESCRIPTION)).parse_args(argv)


def launch_rank(backend: str, num_processes: int | None = None, process_id: int | None = None) -> tuple[int, int]:
    """``(number of processes, this process's rank)`` of this launch.

    TensorFlow with ``TF_CONFIG``: its worker list and task index (explicit values must agree). Otherwise the
    explicit values, else SLURM's ``SLURM_NTASKS``/``SLURM_PROCID``, else ``(1, 0)``.

    Raises:
        ParameterError: ``TF_CONFIG`` is not valid JSON with a worker list, or the values disagree or are
            out of range.
    """
    if backend == "tensorflow" and os.environ.get("TF_CONFIG"):
        try:
            config = json.loads(os.environ["TF_CONFIG"])
            n, r = len(config["cluster"]["worker"]), int(config["task"]["index"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ParameterError(f"TF_CONFIG must be JSON with cluster.worker and task.index; received "
                                 f"{os.environ['TF_CONFIG']!r} ({exc})") from None
        for name, given, value in (("--num-processes", num_processes, n), ("--process-id", process_id, r)):
            if given is not None and given != value:
                raise ParameterError(f"{name} {given} disagrees with TF_CONFIG ({value})")
    else:
        n = num_processes if num_processes is not None else int(os.environ.get("SLURM_NTASKS", 1))
        r = process_id if process_id is not None else int(os.environ.get("SLURM_PROCID", 0))
    if n < 1 or not 0 <= r < n:
        raise ParameterError(f"need 1 <= processes and 0 <= rank < processes; received processes={n}, rank={r}")
    return n, r


def recipe(args) -> tuple[float, int, tuple]:
    from .schedule import REFERENCE_RECIPES

    r = REFERENCE_RECIPES.get(args.global_batch, REFERENCE_RECIPES[2048])
    lr = args.lr if args.lr is not None else r["lr"]
    warmup = args.warmup_steps if args.warmup_steps is not None else r["warmup_steps"]
    milestones = tuple(args.milestones) if args.milestones is not None else r["milestones"]
    return lr, warmup, milestones


def validation_shard(files, nproc: int, rank: int):
    """Contiguous shards, the remainder spread over the first ranks (the reference's validation split)."""
    per, extra = divmod(len(files), nproc)
    start = rank * per + min(rank, extra)
    return files[start:start + per + (rank < extra)]


def build_smoke_net(input_shape, num_classes: int = 3, *, width: int = 8, synchronized_bn: bool = False,
                    name: str = "deepcam_smoke"):
    """A small segmentation net for checking a multi-process launch (``--model smoke``), not the benchmark.

    Two 3x3 convolutions, each followed by BatchNorm (the reference's epsilon 1e-5 and momentum 0.9) and
    ReLU, then 1x1 logits: the same data path, loss, optimizer, BatchNorm and all-reduces as DeepLabv3+,
    with a training step that compiles in seconds instead of minutes.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: output classes (3: background, TC, AR).
        width: channels of the two convolutions.
        synchronized_bn: BatchNorm over the global batch under a multi-replica strategy.
        name: the model's name.
    """
    import keras

    if width < 1:
        raise ValueError(f"width must be >= 1; received {width!r}")
    inp = keras.Input(tuple(input_shape), name="fields")
    h = inp
    for i in (1, 2):
        h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, synchronized=synchronized_bn,
                                            name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
    out = keras.layers.Conv2D(num_classes, 1, name="logits")(h)
    return keras.Model(inp, out, name=name)


def _record(path: Path | None, record: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1))


def main(argv=None) -> int:
    """Run ``solarcnn deepcam train`` with the command-line arguments `argv` (default ``sys.argv[1:]``)."""
    return run(parse_args(argv))


def run(args) -> int:
    """Train with the parsed arguments of `add_arguments`; returns 0."""
    import keras

    from .. import runtime
    from ..metrics.deepcam import deepcam_iou_per_class
    from ..models import build_deeplabv3plus
    from ..training.lamb import LAMB
    from . import data as camdata
    from .losses import WeightedCrossEntropy
    from .schedule import WarmupMultiStep

    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow"):
        raise ParameterError(f"deepcam train supports KERAS_BACKEND=jax or tensorflow; received {backend!r}")
    nproc, rank = launch_rank(backend, args.num_processes, args.process_id)
    if args.global_batch < 1 or args.global_batch % nproc:
        raise ParameterError(f"--global-batch must be a positive multiple of the {nproc} process(es); "
                             f"received {args.global_batch}")
    if backend == "jax" and nproc > 1:
        if not args.coordinator:
            raise ParameterError("JAX with several processes needs --coordinator HOST:PORT "
                                 "(or $DEEPCAM_COORDINATOR)")
        keras.distribution.initialize(job_addresses=args.coordinator, num_processes=nproc, process_id=rank)
    strategy = None
    if backend == "tensorflow":
        from . import distribute_tf

        # before anything initialises TensorFlow's devices (setup lists them): collective ops are configured
        # when MultiWorkerMirroredStrategy is created
        strategy = distribute_tf.mirrored_strategy()
    runtime.setup(seed=args.seed, mixed_precision=args.mixed_precision, style=False, verbose=rank == 0)
    say = print if rank == 0 else (lambda *a, **k: None)

    stats = camdata.read_stats(args.stats or args.data / "stats.h5")
    train_files = camdata.list_files(args.data / "train")
    val_files = validation_shard(camdata.list_files(args.data / "validation"), nproc, rank)
    height, width, channels = camdata.read_sample(train_files[0])[0].shape     # grid size from the data
    local_batch = args.global_batch // nproc
    lr, warmup, milestones = recipe(args)
    say(f"{backend}: {nproc} process(es), global batch {args.global_batch} (local {local_batch}), "
        f"grid {height}x{width}x{channels}, lr {lr}, warmup {warmup}, milestones {milestones}")

    if backend == "jax":
        from .distribute import data_parallel

        scope = data_parallel()
    else:
        scope = strategy.scope()
    with scope:
        if args.model == "smoke":
            model = build_smoke_net((height, width, channels), synchronized_bn=args.sync_bn)
        else:
            model = build_deeplabv3plus((height, width, channels), num_middle_blocks=args.num_middle_blocks,
                                        width_multiplier=args.width_multiplier, synchronized_bn=args.sync_bn)
        schedule = WarmupMultiStep(lr, milestones=milestones, warmup_steps=warmup)
        model.compile(optimizer=LAMB(schedule, weight_decay=0.01), loss=WeightedCrossEntropy())
    from .distribute import num_replicas

    replicas = strategy.num_replicas_in_sync if strategy is not None else num_replicas()
    if args.global_batch % replicas:
        raise ParameterError(f"--global-batch {args.global_batch} is not a multiple of {replicas} replicas")
    say(f"{model.count_params():,} parameters, {replicas} replica(s)")
    record = {"backend": backend, "model": model.name, "processes": nproc, "replicas": replicas,
              "global_batch": args.global_batch,
              "sync_bn": bool(args.sync_bn), "losses": [], "val_iou": [], "val_iou_per_class": []}

    def all_sum(values: np.ndarray) -> np.ndarray:
        """Sum a small array over all processes."""
        if nproc == 1:
            return values
        if backend == "jax":
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(values)).sum(axis=0)
        from .distribute_tf import all_workers_sum

        return all_workers_sum(strategy, values, nproc)

    if backend == "tensorflow" and nproc > 1:
        # under MultiWorkerMirroredStrategy predict_on_batch is a collective (it gathers every worker's
        # output), but each worker validates its own files, possibly none: a plain local forward pass
        def predict(x):
            return keras.ops.convert_to_numpy(model(x, training=False))
    else:
        predict = model.predict_on_batch

    def validate(epoch: int) -> tuple[float, np.ndarray]:
        sums = np.zeros(5)             # [sum of per-sample mean IoU, 3 per-class sums, sample count]
        for path in val_files:
            x, y = camdata.CamDataset([path], stats, batch_size=1, shuffle=False, drop_last=False)[0]
            per_class = deepcam_iou_per_class(y, predict(x))[0]
            sums += np.concatenate([[per_class.mean()], per_class, [1.0]])
        sums = all_sum(sums)
        iou, per_class = float(sums[0] / sums[4]), sums[1:4] / sums[4]
        record["val_iou"].append(iou)
        record["val_iou_per_class"].append(per_class.tolist())
        return iou, per_class

    def end_of_epoch(epoch: int, loss: float) -> bool:
        """Validate, report and save the record after an epoch; True when the target IoU is reached."""
        iou, per_class = validate(epoch)
        say(f"epoch {epoch + 1}: loss {loss:.4f} | val IoU {iou:.4f} {np.round(per_class, 4)} | "
            f"{time.perf_counter() - t0:.0f} s")
        if rank == 0:
            _record(args.metrics_json, record)
        if iou >= args.target_iou:
            say(f"target IoU {args.target_iou} reached")
            return True
        return False

    args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if backend == "jax":
        from .checkpoint import train_resumable

        train = camdata.CamDataset(train_files, stats, batch_size=local_batch, seed=args.seed,
                                   num_shards=nproc, shard_index=rank)
        ckpt = args.checkpoint_dir / f"rank{rank:05d}"     # every rank keeps its own (identical) copy
        done = json.loads((ckpt / "state.json").read_text())["epoch"] if (ckpt / "state.json").exists() else 0
        if done:
            say(f"resuming after {done} complete epoch(s) from {ckpt}")
        for epoch in range(done, args.epochs):
            # resumes mid-epoch from the last checkpoint if the job was killed, then finishes this epoch
            state = train_resumable(model, train, epochs=epoch + 1, checkpoint_dir=ckpt,
                                    checkpoint_every=args.checkpoint_every)
            record["losses"] = [float(v) for v in state["losses"]]
            if end_of_epoch(epoch, np.mean(state["losses"][-len(train):])):
                break
        return 0

    from .distribute_tf import cam_dataset_fn

    dataset_fn = cam_dataset_fn(train_files, stats, global_batch=args.global_batch, seed=args.seed,
                                shape=(height, width, channels))

    class Validate(keras.callbacks.Callback):
        """Per-step losses (from fit's running epoch mean) and the all-reduced validation IoU each epoch."""

        def on_epoch_begin(self, epoch, logs=None):
            self._mean, self._count = 0.0, 0

        def on_train_batch_end(self, batch, logs=None):
            # logs["loss"] is the mean over this epoch's steps so far (equal batches): recover this step's
            mean = float(logs["loss"])
            record["losses"].append((self._count + 1) * mean - self._count * self._mean)
            self._mean, self._count = mean, self._count + 1

        def on_epoch_end(self, epoch, logs=None):
            if end_of_epoch(epoch, logs["loss"]):
                self.model.stop_training = True

    train = strategy.distribute_datasets_from_function(dataset_fn)
    # each worker's pipeline yields per-replica batches of its shard; its local replicas take one each per step
    steps = (len(train_files) // nproc) // (args.global_batch // replicas) // (replicas // nproc)
    if steps < 1:
        raise ParameterError(f"{len(train_files)} training files give no step of global batch {args.global_batch}")
    with strategy.scope():
        # Build the optimizer and metric variables from one per-replica batch first, as
        # distribute_tf.train_on_global_batch does, and skip fit's own build (Keras 3.15): that one takes
        # the first batch off the training iterator (training would start at the second batch) and
        # all-reduces it, which fails with "Attempt to convert a value (PerReplica...)" when the strategy
        # spans several workers.
        per = args.global_batch // replicas
        model._symbolic_build(data_batch=(np.zeros((per, height, width, channels), np.float32),
                                          np.zeros((per, height, width), np.int32)))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if nproc > 1:
        from .distribute_tf import multi_worker_train_function

        model.train_function = multi_worker_train_function(model)   # Keras' own fails across workers
    # Keras 3's BackupAndRestore has no chief/worker logic: every worker writes its backup, so each gets its own
    # folder (identical copies, as the JAX path's rank folders); a shared one fails on the HDF5 file lock
    backup = args.checkpoint_dir / ("backup" if nproc == 1 else f"backup-rank{rank:05d}")
    model.fit(train, epochs=args.epochs, steps_per_epoch=steps, verbose=2 if rank == 0 else 0,
              callbacks=[keras.callbacks.BackupAndRestore(str(backup)), Validate()])
    return 0
