"""Optimisers shared by the tracks: `TorchSGD` (the flare recipe's) here, `LAMB` (DeepCAM's) in `lamb`."""
from __future__ import annotations

import keras
from keras import ops

from .lamb import LAMB  # noqa: F401


@keras.saving.register_keras_serializable(package="solarcnn")
class TorchSGD(keras.optimizers.Optimizer):
    """PyTorch-style SGD: coupled L2 weight decay and a momentum the schedule can change.

    Per variable, with ``g`` the gradient: ``d = g + weight_decay * theta``;
    ``buf = momentum * buf + d`` (dampening 0; ``buf = d`` on the first step);
    ``theta -= lr * buf``. ``momentum`` is a variable (`OneCycleScheduler` sets it every step).

    Args:
        learning_rate: initial learning rate (a schedule callback may overwrite it).
        momentum: initial momentum.
        weight_decay: coupled L2 coefficient on *all* trainable variables (biases and BN too).
    """

    def __init__(self, learning_rate=1e-4, momentum=0.0, weight_decay=0.0, name="torch_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0; received {momentum}, {weight_decay}")
        self.initial_momentum = float(momentum)
        self.l2 = float(weight_decay)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentum_var = self.add_variable(shape=(), initializer=keras.initializers.Constant(self.initial_momentum),
                                              name="momentum")
        self.buffers = [self.add_variable_from_reference(v, "momentum_buffer") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        if self.l2:
            g = g + self.l2 * variable
        buf = self.buffers[self._get_variable_index(variable)]
        mu = ops.cast(self.momentum_var, variable.dtype)
        first = ops.cast(ops.equal(self.iterations, 0), variable.dtype)
        new_buf = first * g + (1.0 - first) * (mu * buf + g)
        self.assign(buf, new_buf)
        self.assign_sub(variable, lr * new_buf)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"momentum": self.initial_momentum, "weight_decay": self.l2})
        return cfg
