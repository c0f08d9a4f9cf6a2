"""Data-parallel training on existing engines (backend-agnostic front end).

- JAX backend: `keras.distribution.DataParallel` over the local (or, after
  `keras.distribution.initialize`, all hosts') devices. Arrays are sharded on
  the batch axis and the step is one SPMD program, so BatchNorm statistics and
  the loss are computed over the **global** batch: the same maths as one device
  with the same global batch.
- TensorFlow backend: `tf.distribute.MirroredStrategy` (one host) or
  `MultiWorkerMirroredStrategy` (several hosts, ``TF_CONFIG``), in
  `solarcnn.deepcam.distribute_tf` (the only module here that imports TensorFlow).
  BatchNorm is per replica unless the model is built with ``synchronized_bn=True``.

The reference (PyTorch DDP) uses per-GPU BatchNorm and averages the running
statistics at each epoch end (spec §11). On TensorFlow with ``synchronized_bn=False``
that is exactly what you get with `average_bn_statistics` at each epoch end
(`BatchNormStatsSync` for ``fit``; `train_resumable` calls it): the forward pass
normalises with per-replica batch statistics and the replicas' running statistics
are averaged. Because the moving average is linear, averaging at the epoch end gives
the same running statistics as the reference. (Keras updates the moving variance
with the biased batch variance; PyTorch with the unbiased one, a factor
n/(n-1) ≈ 1 + 1e-6 at 768 x 1152 pixels per GPU.) On JAX the SPMD step already uses
global-batch statistics, there is one copy of the running statistics, and the
averaging is a no-op.

Use `train_on_batch(model, x, y)` rather than ``model.train_on_batch`` for custom
loops: on TensorFlow ``model.train_on_batch`` under a strategy hands the whole batch
to every replica (no data parallelism; see `solarcnn.deepcam.distribute_tf`).
"""
from __future__ import annotations

import contextlib


def data_parallel(num_devices: int | None = None):
    """Set up data parallelism for the current backend and return a context manager to build and compile
    the model in (JAX: sets the global `keras.distribution`; TensorFlow: the strategy's scope)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        if num_devices is not None:
            if num_devices > len(devices):
                raise ValueError(f"num_devices={num_devices} but only {len(devices)} device(s) exist: {devices}")
            devices = devices[:num_devices]
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return contextlib.nullcontext()
    if backend == "tensorflow":
        from . import distribute_tf

        return distribute_tf.mirrored_strategy(num_devices).scope()
    raise ValueError(f"data_parallel supports the 'jax' and 'tensorflow' backends; received {backend!r}")


def num_replicas() -> int:
    """Number of data-parallel replicas currently configured (1 without distribution)."""
    import keras

    if keras.backend.backend() == "jax":
        dist = keras.distribution.distribution()
        return len(dist.device_mesh.devices.ravel()) if dist is not None else 1
    if keras.backend.backend() == "tensorflow":
        from . import distribute_tf

        return distribute_tf.num_replicas()
    return 1


def train_on_batch(model, x, y) -> float:
    """One data-parallel optimizer step on the batch ``(x, y)``; returns the loss.

    ``(x, y)`` is this process's batch (the global batch on one host). JAX: ``model.train_on_batch``
    shards it over the `keras.distribution` mesh. TensorFlow under a multi-replica strategy: split into
    per-replica slices (`distribute_tf.train_on_global_batch`). Otherwise plain ``model.train_on_batch``.
    """
    import keras

    if keras.backend.backend() == "tensorflow" and model.distribute_strategy.num_replicas_in_sync > 1:
        from . import distribute_tf

        return distribute_tf.train_on_global_batch(model, x, y)
    loss = model.train_on_batch(x, y)
    return float(loss[0] if isinstance(loss, (list, tuple)) else loss)


def average_bn_statistics(model) -> int:
    """Average the BatchNorm running statistics over the replicas (the reference's epoch-end sync).

    Returns the number of variables averaged: 0 on JAX (one global copy) and without a strategy.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        from . import distribute_tf

        return distribute_tf.average_moving_statistics(model)
    return 0


def _callback_base():
    import keras

    return keras.callbacks.Callback


class BatchNormStatsSync(_callback_base()):
    """Keras callback for ``fit``: `average_bn_statistics` before each validation pass and at each epoch
    end, as the reference's ``bnstats`` step (``fit`` validates before ``on_epoch_end``; averaging twice
    changes nothing)."""

    def on_test_begin(self, logs=None):
        average_bn_statistics(self.model)

    def on_epoch_end(self, epoch, logs=None):
        average_bn_statistics(self.model)
