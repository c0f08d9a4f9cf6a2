#!/usr/bin/env python
"""Data-parallel DeepCAM training, one process per node (or per GPU), launched by the sbatch files beside it.

    KERAS_BACKEND=jax        srun python examples/slurm/deepcam_train.py DATA --global-batch 2048 ...
    KERAS_BACKEND=tensorflow srun python examples/slurm/deepcam_train.py DATA --global-batch 2048 ...

DATA holds ``train/``, ``validation/`` (``data-*.h5`` in the benchmark layout) and ``stats.h5``, as written by
``solarcnn deepcam generate | split | summarize``. Defaults are the batch-2048 reference recipe (LAMB, lr 0.0055,
warmup 400, milestone 800, weight decay 0.01, global gradient clipping at 1) and the reference network; training
stops when the mean validation IoU reaches the MLPerf target 0.82 or after ``--epochs``.

JAX backend: ``keras.distribution.initialize`` (a wrapper of ``jax.distributed.initialize``) joins the processes
(coordinator, count and rank from SLURM); ``solarcnn.deepcam.distribute.data_parallel`` shards every batch over
all GPUs of all processes. Each process reads only its own shard of the training files (local batch = global
batch / processes) and checkpoints with mid-epoch resume (``solarcnn.deepcam.checkpoint.train_resumable``).

TensorFlow backend: ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (written by the sbatch file), else
``MirroredStrategy`` over the local GPUs. The input pipeline is built per worker with
``distribute_datasets_from_function`` (each worker reads its own shard, per-replica batch = global / replicas);
resume is per epoch (``keras.callbacks.BackupAndRestore``).

Validation follows the reference: files split into contiguous shards per process, batch 1, per-sample IoU summed
and all-reduced, mean over all validation samples.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="folder with train/, validation/ and stats.h5")
    p.add_argument("--stats", type=Path, default=None, help="stats.h5 (default DATA/stats.h5)")
    p.add_argument("--global-batch", type=int, default=2048, help="samples per optimizer step over all devices")
    p.add_argument("--lr", type=float, default=None, help="base LR (default: the reference recipe of the batch)")
    p.add_argument("--warmup-steps", type=int, default=None)
    p.add_argument("--milestones", type=int, nargs="*", default=None)
    p.add_argument("--epochs", type=int, default=200, help="maximum epochs (reference: 200)")
    p.add_argument("--target-iou", type=float, default=0.82)
    p.add_argument("--num-middle-blocks", type=int, default=16)
    p.add_argument("--width-multiplier", type=float, default=1.0)
    p.add_argument("--mixed-precision", action="store_true", help="bf16 compute (mixed_bfloat16)")
    p.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"))
    p.add_argument("--checkpoint-every", type=int, default=20, help="optimizer steps between checkpoints (JAX)")
    p.add_argument("--coordinator", default=os.environ.get("DEEPCAM_COORDINATOR"),
                   help="host:port of process 0 (JAX multi-process; default $DEEPCAM_COORDINATOR)")
    p.add_argument("--seed", type=int, default=333, help="the reference default; MLPerf wants a new one per run")
    return p.parse_args(argv)


def slurm_rank() -> tuple[int, int]:
    """(number of processes, this process's rank) from SLURM, or (1, 0)."""
    return int(os.environ.get("SLURM_NTASKS", 1)), int(os.environ.get("SLURM_PROCID", 0))


def recipe(args) -> tuple[float, int, tuple]:
    from solarcnn.deepcam.schedule import REFERENCE_RECIPES

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


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras

    import solarcnn
    from solarcnn.deepcam import data as camdata
    from solarcnn.deepcam.losses import WeightedCrossEntropy
    from solarcnn.deepcam.schedule import WarmupMultiStep
    from solarcnn.metrics.deepcam import deepcam_iou_per_class
    from solarcnn.models import build_deeplabv3plus
    from solarcnn.training.lamb import LAMB

    backend = keras.backend.backend()
    nproc, rank = slurm_rank()
    if backend == "jax" and nproc > 1:
        if not args.coordinator:
            raise SystemExit("JAX with several processes needs --coordinator HOST:PORT (or $DEEPCAM_COORDINATOR)")
        keras.distribution.initialize(job_addresses=args.coordinator, num_processes=nproc, process_id=rank)
    solarcnn.setup(seed=args.seed, mixed_precision=args.mixed_precision)
    say = print if rank == 0 else (lambda *a, **k: None)

    stats = camdata.read_stats(args.stats or args.data / "stats.h5")
    train_files = camdata.list_files(args.data / "train")
    val_files = validation_shard(camdata.list_files(args.data / "validation"), nproc, rank)
    height, width, channels = camdata.read_sample(train_files[0])[0].shape     # grid size from the data
    if args.global_batch % nproc:
        raise SystemExit(f"--global-batch {args.global_batch} is not a multiple of {nproc} processes")
    local_batch = args.global_batch // nproc
    lr, warmup, milestones = recipe(args)
    say(f"{backend}: {nproc} process(es), global batch {args.global_batch} (local {local_batch}), "
        f"grid {height}x{width}x{channels}, lr {lr}, warmup {warmup}, milestones {milestones}")

    strategy = None
    if backend == "jax":
        from solarcnn.deepcam.distribute import data_parallel

        scope = data_parallel()
    elif backend == "tensorflow":
        from solarcnn.deepcam import distribute_tf

        strategy = distribute_tf.mirrored_strategy()
        scope = strategy.scope()
    else:
        raise SystemExit(f"this example supports KERAS_BACKEND=jax or tensorflow; received {backend!r}")
    with scope:
        model = build_deeplabv3plus((height, width, channels), num_middle_blocks=args.num_middle_blocks,
                                    width_multiplier=args.width_multiplier)
        schedule = WarmupMultiStep(lr, milestones=milestones, warmup_steps=warmup)
        model.compile(optimizer=LAMB(schedule, weight_decay=0.01), loss=WeightedCrossEntropy())
    say(f"{model.count_params():,} parameters")

    def all_sum(values: np.ndarray) -> np.ndarray:
        """Sum a small array over all processes."""
        if nproc == 1:
            return values
        if backend == "jax":
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(values)).sum(axis=0)
        import tensorflow as tf   # TensorFlow branch only

        local = strategy.num_replicas_in_sync // nproc
        per_replica = strategy.run(lambda: tf.constant(values / local, tf.float64))
        return strategy.reduce("SUM", per_replica, axis=None).numpy()

    def validate() -> tuple[float, np.ndarray]:
        sums = np.zeros(5)             # [sum of per-sample mean IoU, 3 per-class sums, sample count]
        for path in val_files:
            x, y = camdata.CamDataset([path], stats, batch_size=1, shuffle=False, drop_last=False)[0]
            per_class = deepcam_iou_per_class(y, model.predict_on_batch(x))[0]
            sums += np.concatenate([[per_class.mean()], per_class, [1.0]])
        sums = all_sum(sums)
        return sums[0] / sums[4], sums[1:4] / sums[4]

    args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if backend == "jax":
        from solarcnn.deepcam.checkpoint import train_resumable

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
            iou, per_class = validate()
            say(f"epoch {epoch + 1}: loss {np.mean(state['losses'][-len(train):]):.4f} | val IoU {iou:.4f} "
                f"{np.round(per_class, 4)} | {time.perf_counter() - t0:.0f} s")
            if iou >= args.target_iou:
                say(f"target IoU {args.target_iou} reached")
                break
        return 0

    import tensorflow as tf   # TensorFlow branch only

    def dataset_fn(ctx):
        shard = camdata.CamDataset(train_files, stats, batch_size=ctx.get_per_replica_batch_size(args.global_batch),
                                   seed=args.seed, num_shards=ctx.num_input_pipelines,
                                   shard_index=ctx.input_pipeline_id)

        def batches():                                   # endless: one pass per epoch, reshuffled each time
            while True:
                for i in range(len(shard)):
                    yield shard[i]
                shard.on_epoch_end()
        spec = (tf.TensorSpec((None, height, width, channels), tf.float32),
                tf.TensorSpec((None, height, width), tf.int32))
        return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)

    class Validate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            iou, per_class = validate()
            say(f"epoch {epoch + 1}: loss {logs['loss']:.4f} | val IoU {iou:.4f} {np.round(per_class, 4)} | "
                f"{time.perf_counter() - t0:.0f} s")
            if iou >= args.target_iou:
                say(f"target IoU {args.target_iou} reached")
                self.model.stop_training = True

    train = strategy.distribute_datasets_from_function(dataset_fn)
    replicas = strategy.num_replicas_in_sync
    if args.global_batch % replicas:
        raise SystemExit(f"--global-batch {args.global_batch} is not a multiple of {replicas} replicas")
    # each worker's pipeline yields per-replica batches of its shard; its local replicas take one each per step
    steps = (len(train_files) // nproc) // (args.global_batch // replicas) // (replicas // nproc)
    if steps < 1:
        raise SystemExit(f"{len(train_files)} training files give no step of global batch {args.global_batch}")
    model.fit(train, epochs=args.epochs, steps_per_epoch=steps, verbose=2 if rank == 0 else 0,
              callbacks=[keras.callbacks.BackupAndRestore(str(args.checkpoint_dir / "backup")), Validate()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
