"""TensorFlow-only data parallelism (import only when ``KERAS_BACKEND=tensorflow``).

Two details of Keras 3 on tf.distribute that `solarcnn.deepcam.distribute` relies on
(both checked in ``tests/test_deepcam_distributed.py``):

- ``model.train_on_batch(x, y)`` inside a strategy does **not** split the batch: every
  replica receives the whole ``(x, y)`` (the loss is scaled by 1/replicas, so the
  update equals one device's, at replicas-times the cost). `train_on_global_batch`
  splits the batch into per-replica slices through
  ``strategy.distribute_datasets_from_function``, as ``model.fit`` does.
- BatchNorm moving statistics are variables with aggregation ``"none"``: with
  ``synchronized=False`` every replica updates its own copy from its own slice, so the
  copies drift apart (the reference's per-GPU BN). `average_moving_statistics` all-reduces
  them (mean), the reference's epoch-end ``bnstats`` synchronisation.
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf


def logical_cpus(n: int = 2) -> None:
    """Split the CPU into `n` logical devices (call before TensorFlow initialises its devices)."""
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)


_STRATEGIES: dict = {}


def mirrored_strategy(num_devices: int | None = None) -> tf.distribute.Strategy:
    """`MultiWorkerMirroredStrategy` when ``TF_CONFIG`` names several workers, else `MirroredStrategy`
    over the GPUs (or, without GPUs, the logical CPUs).

    One strategy per process and device count is created and then reused: two strategies in one
    process hand out the same collective-op keys and their all-reduces collide.
    """
    key = ("multiworker", None) if "TF_CONFIG" in os.environ else ("mirrored", num_devices)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = _new_strategy(num_devices)
    return _STRATEGIES[key]


def _new_strategy(num_devices):
    if "TF_CONFIG" in os.environ:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if num_devices is not None:
        if num_devices > len(devices):
            raise ValueError(f"num_devices={num_devices} but only {len(devices)} device(s) exist: {devices}")
        devices = devices[:num_devices]
    return tf.distribute.MirroredStrategy(devices=devices)


def num_replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def _local_replicas(strategy) -> int:
    return len(strategy.extended.worker_devices)


def train_on_global_batch(model, x, y) -> float:
    """One optimizer step on this worker's batch ``(x, y)``, split evenly over its replicas.

    Raises:
        ValueError: the batch size is not a multiple of the number of local replicas.
    """
    strategy = model.distribute_strategy
    n = _local_replicas(strategy)
    if len(x) % n:
        raise ValueError(f"the batch size must be a multiple of the {n} local replicas; received {len(x)}")
    per = len(x) // n
    x = np.asarray(x)
    y = np.asarray(y)
    dist = strategy.distribute_datasets_from_function(
        lambda ctx: tf.data.Dataset.from_tensor_slices((x, y)).batch(per))
    with strategy.scope():
        if model.train_function is None or not model.optimizer.built:
            # build optimizer and metric variables in the strategy's cross-replica context, as fit() does
            model._symbolic_build(data_batch=(x[:per], y[:per]))
        model.make_train_function()
        model.reset_metrics()            # as train_on_batch: the logged loss is this step's, not a running mean
        logs = model.train_function(iter(dist))
    loss = logs["loss"] if isinstance(logs, dict) else logs[0]
    return float(loss)


def multi_worker_train_function(model):
    """A ``train_function`` for ``model.fit`` under `MultiWorkerMirroredStrategy` (set ``model.train_function``).

    Keras 3.15's own reduces the step's logs across workers with ``strategy.reduce("MEAN", v, axis=0)``,
    which fails on the scalar loss ("Invalid reduction dimension 0 for input with 0 dimensions"). This one
    runs the model's own ``train_step`` on each replica (gradients all-reduced by the optimizer as in
    Keras' path) and averages the scalar logs over all replicas (``axis=None``): with equal per-replica
    batches, the mean over the global batch.
    """
    strategy = model.distribute_strategy

    @tf.function
    def train_function(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), logs)

    return train_function


def replica_values(variable) -> list[np.ndarray]:
    """The per-replica copies of a Keras variable (one entry without a strategy)."""
    value = getattr(variable, "value", variable)
    parts = getattr(value, "values", None)
    return [np.asarray(p) for p in parts] if parts is not None else [np.asarray(value)]


def average_moving_statistics(model) -> int:
    """Average every BatchNormalization's moving mean and variance over all replicas (all workers included);
    return the number of variables averaged (0 without a multi-replica strategy)."""
    import keras

    strategy = model.distribute_strategy
    if strategy.num_replicas_in_sync <= 1:
        return 0
    variables = [v.value for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
                 for v in (layer.moving_mean, layer.moving_variance)]
    if not variables:
        return 0

    @tf.function
    def _average():
        def replica_fn():
            ctx = tf.distribute.get_replica_context()
            means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [v.read_value() for v in variables])
            for v, m in zip(variables, means):
                v.assign(m)
        strategy.run(replica_fn)

    _average()
    return len(variables)


def all_workers_sum(strategy, values: np.ndarray, num_workers: int) -> np.ndarray:
    """Sum a small NumPy array over all workers of a multi-worker strategy (each worker passes its own).

    Every local replica contributes ``values / local_replicas``, so the all-reduced ``SUM`` counts each
    worker once whatever its number of replicas.
    """
    local = strategy.num_replicas_in_sync // num_workers
    per_replica = strategy.run(lambda: tf.constant(values / local, tf.float64))
    return strategy.reduce("SUM", per_replica, axis=None).numpy()


def cam_dataset_fn(train_files, stats, *, global_batch: int, seed: int, shape: tuple[int, int, int]):
    """A ``dataset_fn`` for ``strategy.distribute_datasets_from_function`` over CAM5 training files.

    Each input pipeline reads its own shard (`solarcnn.deepcam.data.CamDataset` with ``num_shards`` /
    ``shard_index`` from the input context) at the per-replica batch size, endlessly: one pass per epoch,
    reshuffled each time (``model.fit`` is given ``steps_per_epoch``).
    """
    from .data import CamDataset

    height, width, channels = shape

    def dataset_fn(ctx):
        shard = CamDataset(train_files, stats, batch_size=ctx.get_per_replica_batch_size(global_batch),
                           seed=seed, num_shards=ctx.num_input_pipelines, shard_index=ctx.input_pipeline_id)

        def batches():
            while True:
                for i in range(len(shard)):
                    yield shard[i]
                shard.on_epoch_end()
        spec = (tf.TensorSpec((None, height, width, channels), tf.float32),
                tf.TensorSpec((None, height, width), tf.int32))
        return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)

    return dataset_fn
