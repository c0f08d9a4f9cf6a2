"""LAMB as NVIDIA apex ``FusedLAMB`` computes it (the DeepCAM reference optimiser).

Introduced in notebook 05. One step, for every tensor p with gradient g:

1. global clipping: G = L2 norm over *all* gradients; if G > max_grad_norm, g <- g * max_grad_norm / G;
2. Adam moments with bias correction: m, v, m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t);
3. u = m̂ / (sqrt(v̂) + eps) + wd * p   (decoupled weight decay *inside* the update);
4. trust ratio r = ||p|| / ||u|| when wd != 0 and both norms are non-zero, else 1;
5. p <- p - lr * r * u.

`keras.optimizers.Lamb` differs (its trust ratio ignores the weight decay, which
it applies separately; it applies the ratio even with wd = 0; default eps 1e-7),
hence this subclass. Backend-agnostic (``keras.ops``).
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="solarcnn")
class LAMB(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Moments for Batch training, apex ``FusedLAMB`` semantics.

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
        beta_1, beta_2: Adam moment decays (0.9, 0.999).
        epsilon: 1e-6 (fixed by the MLPerf rules).
        weight_decay: decoupled weight decay inside the trust-ratio update (0.01 in the reference sets);
            applied to every tensor, BatchNorm and biases included, as the reference does.
        max_grad_norm: global gradient-norm clipping threshold (1.0, required by the MLPerf rules);
            None disables clipping.
        bias_correction: Adam bias correction (True in apex and required by the rules).
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-6,
                 weight_decay: float = 0.01, max_grad_norm: float | None = 1.0, bias_correction: bool = True,
                 name: str = "lamb", **kwargs):
        for key in ("global_clipnorm", "clipnorm", "clipvalue"):
            if kwargs.get(key) is not None:
                raise ValueError(f"LAMB clips with max_grad_norm; received {key}={kwargs[key]!r}")
            kwargs.pop(key, None)
        kwargs.pop("weight_decay", None)
        if max_grad_norm is not None and max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None; received {max_grad_norm!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; received {weight_decay!r}")
        # Keras' own global clipping is g * c / max(G, c): the same as apex's rule.
        super().__init__(learning_rate=learning_rate, name=name, global_clipnorm=max_grad_norm, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.lamb_weight_decay = float(weight_decay)   # not Keras' `weight_decay`, which would decay outside u
        self.max_grad_norm = None if max_grad_norm is None else float(max_grad_norm)
        self.bias_correction = bool(bias_correction)

    def apply(self, grads, trainable_variables=None):
        """As `keras.optimizers.Optimizer.apply`; gradients may be NumPy arrays on every backend (on PyTorch the
        global-norm clipping multiplies them by a tensor, which a NumPy array refuses)."""
        grads = [None if g is None else ops.convert_to_tensor(g) for g in grads]
        return super().apply(grads, trainable_variables)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign(m, ops.add(ops.multiply(m, self.beta_1), ops.multiply(g, 1.0 - self.beta_1)))
        self.assign(v, ops.add(ops.multiply(v, self.beta_2), ops.multiply(ops.square(g), 1.0 - self.beta_2)))
        if self.bias_correction:
            m_hat = ops.divide(m, 1.0 - ops.power(ops.cast(self.beta_1, dtype), t))
            v_hat = ops.divide(v, 1.0 - ops.power(ops.cast(self.beta_2, dtype), t))
        else:
            m_hat, v_hat = m, v
        u = ops.divide(m_hat, ops.add(ops.sqrt(v_hat), self.epsilon))
        if self.lamb_weight_decay != 0.0:
            u = ops.add(u, ops.multiply(variable, self.lamb_weight_decay))
            p_norm = ops.sqrt(ops.sum(ops.square(variable)))
            u_norm = ops.sqrt(ops.sum(ops.square(u)))
            ok = ops.logical_and(ops.greater(p_norm, 0.0), ops.greater(u_norm, 0.0))
            ratio = ops.where(ok, p_norm / ops.where(ok, u_norm, 1.0), 1.0)
        else:
            ratio = ops.cast(1.0, dtype)
        self.assign_sub(variable, ops.multiply(ops.multiply(lr, ratio), u))

    def get_config(self):
        config = super().get_config()
        config.pop("global_clipnorm", None)
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "weight_decay": self.lamb_weight_decay, "max_grad_norm": self.max_grad_norm,
                       "bias_correction": self.bias_correction})
        return config
