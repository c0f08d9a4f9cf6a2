"""TensorFlow-only data parallelism (import only when ``KERAS_BACKEND=tensorflow``)."""
from __future__ import annotations

import os

import tensorflow as tf


def logical_cpus(n: int = 2) -> None:
    """Split the CPU into `n` logical devices (call before TensorFlow initialises its devices)."""
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)


def mirrored_strategy(num_devices: int | None = None) -> tf.distribute.Strategy:
    """`MultiWorkerMirroredStrategy` when ``TF_CONFIG`` names several workers, else `MirroredStrategy`
    over the GPUs (or, without GPUs, the logical CPUs)."""
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
