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
statistics at each epoch end; neither engine reproduces that exactly (said in notebook 05).
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
