"""TensorFlow half of `optimizers`: one fused kernel per variable for Adam and the two momentum SGDs.

Keras 3 writes an optimiser step out of separate element-wise ops, each a pass over the variable and
its slots: seven for Adam (``m``, ``v`` and the update), four for momentum SGD. TensorFlow's
``ResourceApply*`` kernels do the same arithmetic in one pass. The formulas, from TensorFlow's
``training_ops`` kernels, are the ones Keras and PyTorch write:

- ``ResourceApplyAdam``: ``alpha = lr sqrt(1 - b2^t) / (1 - b1^t)``; ``m += (g - m)(1 - b1)``;
  ``v += (g^2 - v)(1 - b2)``; ``var -= alpha m / (sqrt(v) + eps)`` (Keras' Adam).
- ``ResourceApplyKerasMomentum``: ``accum = momentum accum - lr g``; ``var += accum``, or with Nesterov
  ``var += momentum accum - lr g`` (Keras' SGD).
- ``ResourceApplyMomentum``: ``accum = momentum accum + g``; ``var -= lr accum`` (PyTorch's SGD).

Every function takes TensorFlow variables (the ``.value`` of a Keras variable); they also work on a
``tf.distribute`` variable inside ``Strategy.extended.update``, where Keras calls ``update_step``.
"""
from __future__ import annotations

import tensorflow as tf


def _tf_variable(v):
    return getattr(v, "value", v) if not isinstance(v, tf.Variable) else v


def apply_adam(var, m, v, grad, *, lr, beta_1, beta_2, epsilon, step):
    """One Adam step on ``var`` with slots ``m`` and ``v``; ``step`` is the 1-based step count."""
    var, m, v = _tf_variable(var), _tf_variable(m), _tf_variable(v)
    dt = var.dtype
    b1 = tf.cast(beta_1, dt)
    b2 = tf.cast(beta_2, dt)
    t = tf.cast(step, dt)
    return tf.raw_ops.ResourceApplyAdam(
        var=var.handle, m=m.handle, v=v.handle, beta1_power=tf.pow(b1, t), beta2_power=tf.pow(b2, t),
        lr=tf.cast(lr, dt), beta1=b1, beta2=b2, epsilon=tf.cast(epsilon, dt), grad=tf.cast(grad, dt),
        use_locking=False)


def apply_keras_momentum(var, accum, grad, *, lr, momentum, nesterov):
    """One step of Keras' momentum SGD (``accum`` holds ``momentum accum - lr g``)."""
    var, accum = _tf_variable(var), _tf_variable(accum)
    dt = var.dtype
    return tf.raw_ops.ResourceApplyKerasMomentum(
        var=var.handle, accum=accum.handle, lr=tf.cast(lr, dt), grad=tf.cast(grad, dt),
        momentum=tf.cast(momentum, dt), use_locking=False, use_nesterov=bool(nesterov))


def apply_torch_momentum(var, accum, grad, *, lr, momentum):
    """One step of PyTorch's momentum SGD, dampening 0 (``accum = momentum accum + g``; ``var -= lr accum``)."""
    var, accum = _tf_variable(var), _tf_variable(accum)
    dt = var.dtype
    return tf.raw_ops.ResourceApplyMomentum(
        var=var.handle, accum=accum.handle, lr=tf.cast(lr, dt), grad=tf.cast(grad, dt),
        momentum=tf.cast(momentum, dt), use_locking=False, use_nesterov=False)
