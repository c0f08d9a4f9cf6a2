"""Optimisers shared by the tracks: `TorchSGD` (the flare recipe's), `Adam` and `SGD` here, `LAMB` (DeepCAM's)
in `lamb`.

`Adam` and `SGD` are Keras' optimisers (same arguments, config, slots and results) that, under the TensorFlow
backend, update each variable with one fused TensorFlow kernel (`optimizers_tf`) instead of Keras' chain of
element-wise ops; `TorchSGD` does the same. On a 2-core CPU this took DeepLabv3+'s quick Adam training step
from 273 to 224 ms (see benchmarks/RESULTS.md). Sparse gradients, AMSGrad, 16-bit variables and the other
backends use Keras' own code.
"""
from __future__ import annotations

import keras
from keras import ops

from .lamb import LAMB  # noqa: F401


def _fused_ok(gradient, variable) -> bool:
    """The fused TensorFlow kernels apply: TensorFlow backend, a dense gradient, a float32/float64 variable."""
    if keras.backend.backend() != "tensorflow" or hasattr(gradient, "indices"):
        return False
    return keras.backend.standardize_dtype(variable.dtype) in ("float32", "float64")


@keras.saving.register_keras_serializable(package="solarcnn")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, each variable updated by TensorFlow's fused ``ResourceApplyAdam`` there.

    The same arithmetic as Keras' step (tested equal to it over several steps, in float32 and
    ``mixed_bfloat16``); weight decay, clipping, EMA and gradient accumulation are Keras' code around it.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or not _fused_ok(gradient, variable):
            return super().update_step(gradient, variable, learning_rate)
        from .optimizers_tf import apply_adam

        i = self._get_variable_index(variable)
        apply_adam(variable, self._momentums[i], self._velocities[i], gradient, lr=learning_rate,
                   beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, step=self.iterations + 1)


@keras.saving.register_keras_serializable(package="solarcnn")
class SGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD`, with momentum updated by TensorFlow's fused ``ResourceApplyKerasMomentum`` there.

    Keras' formulation (``m = momentum m - lr g``; ``theta += m``, or Nesterov's), tested equal to Keras'.
    Without momentum it is Keras' code.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or not _fused_ok(gradient, variable):
            return super().update_step(gradient, variable, learning_rate)
        from .optimizers_tf import apply_keras_momentum

        apply_keras_momentum(variable, self.momentums[self._get_variable_index(variable)], gradient,
                             lr=learning_rate, momentum=self.momentum, nesterov=self.nesterov)


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
        if _fused_ok(gradient, variable):
            from .optimizers_tf import apply_torch_momentum

            apply_torch_momentum(variable, buf, g, lr=lr, momentum=mu * (1.0 - first))
            return
        new_buf = first * g + (1.0 - first) * (mu * buf + g)
        self.assign(buf, new_buf)
        self.assign_sub(variable, lr * new_buf)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"momentum": self.initial_momentum, "weight_decay": self.l2})
        return cfg
