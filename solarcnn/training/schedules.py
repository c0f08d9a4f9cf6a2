"""Learning-rate (and momentum) schedules shared by the tracks, keyed on the optimizer step.

- `WarmupMultiStep`: DeepCAM's linear warmup then multistep decay (``solarcnn.deepcam.schedule``).
- `one_cycle` and `OneCycleScheduler`: PyTorch's OneCycleLR with its momentum cycling, the flare
  recipe's schedule (``solarcnn.flare.recipe``).
- `OneCycleLR`: the same learning rate as a Keras `LearningRateSchedule` (no momentum), e.g. for Adam
  (notebook 07).

**WarmupMultiStep** reproduces what the DeepCAM reference (``mlcommons/hpc`` ``utils/schedulers.py`` and
``utils/optimizer_helpers.py``) actually does, quirks included. The PyTorch
schedulers are built with ``last_epoch=0`` instead of -1, so construction
already advances them once. The LR used at optimizer step s (0-based) is:

- warmup, factor F = 1: ``base * min(s + 1, W - 1) / W``. It stays at
  ``base * (W - 1) / W`` and never reaches ``base``;
- warmup, F > 1: ``base * ((F - 1) * min(s + 1, W - 1) / W + 1)``;
- milestone m after a warmup: the decay applies from ``s = m + W``;
- milestone m without warmup (torch ``MultiStepLR(last_epoch=0)``): from ``s = m - 1``.

``faithful=False`` gives the intended schedule instead: warmup reaches the base
LR at ``s = W - 1`` (F = 1) and milestones apply from ``s = W + m``.
Example (reference, batch 2048): base 0.0055, W 400, milestone 800:
1.375e-5 at s = 0, 0.00548625 from s = 398, 0.000548625 from s = 1200.

**one_cycle** (flare recipe): OneCycleLR (cosine, pct_start 0.3, div 25, final div 1e4) **with its momentum
cycling 0.95 -> 0.85 -> 0.95**, stepped every batch; `OneCycleScheduler` writes the momentum into
`solarcnn.training.optimizers.TorchSGD`.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .optimizers import TorchSGD


@keras.saving.register_keras_serializable(package="solarcnn")
class WarmupMultiStep(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup + multistep decay, as the DeepCAM reference.

    Args:
        base_lr: the base learning rate (``--start_lr``), e.g. 0.0055.
        milestones: optimizer steps (counted after warmup) where the LR is multiplied by `decay_rate`.
        decay_rate: multiplicative decay γ (0.1 in every reference set).
        warmup_steps: W (0 for no warmup).
        warmup_factor: F >= 1 (1 in every reference set).
        faithful: True reproduces the reference's off-by-one behaviour (see the module docstring).
    """

    def __init__(self, base_lr: float, milestones=(), decay_rate: float = 0.1, warmup_steps: int = 0,
                 warmup_factor: float = 1.0, faithful: bool = True):
        if base_lr <= 0:
            raise ValueError(f"base_lr must be > 0; received {base_lr!r}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0; received {warmup_steps!r}")
        if warmup_factor < 1:
            raise ValueError(f"warmup_factor must be >= 1; received {warmup_factor!r}")
        milestones = [int(m) for m in milestones]
        if milestones != sorted(milestones) or any(m < 0 for m in milestones):
            raise ValueError(f"milestones must be non-negative and increasing; received {milestones!r}")
        self.base_lr = float(base_lr)
        self.milestones = milestones
        self.decay_rate = float(decay_rate)
        self.warmup_steps = int(warmup_steps)
        self.warmup_factor = float(warmup_factor)
        self.faithful = bool(faithful)

    def _decay_starts(self) -> list[int]:
        W = self.warmup_steps
        if W > 0:
            return [m + W for m in self.milestones]
        return [max(m - 1, 0) if self.faithful else m for m in self.milestones]

    def _warm(self, s, minimum, xp):
        W, F = self.warmup_steps, self.warmup_factor
        if W == 0:
            return 1.0
        cap = (W - 1) if self.faithful else W
        frac = minimum(s + 1.0, float(cap)) / W
        return (F - 1.0) * frac + 1.0 if F > 1 else frac

    def __call__(self, step):
        s = ops.cast(step, "float32")
        lr = self.base_lr * self._warm(s, ops.minimum, ops)
        n = 0.0
        for start in self._decay_starts():
            n = n + ops.cast(ops.greater_equal(s, float(start)), "float32")
        return ops.cast(lr * ops.power(self.decay_rate, n), "float32")

    def lr_at(self, steps) -> np.ndarray:
        """NumPy LR at optimizer step(s) `steps` (0-based), for plots and checks."""
        s = np.asarray(steps, dtype=np.float64)
        lr = self.base_lr * self._warm(s, np.minimum, np)
        n = sum((s >= start).astype(np.float64) for start in self._decay_starts()) if self.milestones else 0.0
        return lr * self.decay_rate ** n

    def get_config(self):
        return {"base_lr": self.base_lr, "milestones": list(self.milestones), "decay_rate": self.decay_rate,
                "warmup_steps": self.warmup_steps, "warmup_factor": self.warmup_factor, "faithful": self.faithful}


def _cos_anneal(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def one_cycle(step: int, total_steps: int, max_lr: float, *, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4, base_momentum: float = 0.85, max_momentum: float = 0.95,
              cycle_momentum: bool = True) -> tuple[float, float | None]:
    """Learning rate and momentum of PyTorch's ``OneCycleLR`` (two phases, cosine) at `step`.

    Phase 1, steps 0 .. 0.3T-1: lr max_lr/25 -> max_lr, momentum 0.95 -> 0.85.
    Phase 2, to step T-1: lr max_lr -> max_lr/25/1e4, momentum 0.85 -> 0.95.

    Returns:
        ``(lr, momentum)``; momentum is None when ``cycle_momentum=False``.
    """
    if total_steps < 2:
        raise ValueError(f"total_steps must be >= 2; received {total_steps}")
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps - 1}]; received {step}")
    initial = max_lr / div_factor
    final = initial / final_div_factor
    end1 = float(pct_start * total_steps) - 1
    end2 = float(total_steps - 1)
    if step <= end1:
        pct = step / end1 if end1 > 0 else 1.0
        lr, mom = _cos_anneal(initial, max_lr, pct), _cos_anneal(max_momentum, base_momentum, pct)
    else:
        pct = (step - end1) / (end2 - end1)
        lr, mom = _cos_anneal(max_lr, final, pct), _cos_anneal(base_momentum, max_momentum, pct)
    return lr, (mom if cycle_momentum else None)


@keras.saving.register_keras_serializable(package="solarcnn")
class OneCycleLR(keras.optimizers.schedules.LearningRateSchedule):
    """`one_cycle`'s learning rate as a Keras schedule (no momentum cycling), for any optimizer.

    Computed inside the train step from the optimizer's step count (no callback needed, the optimizer
    saves and restores it with its config), on every backend. Steps past ``total_steps - 1`` keep the
    last rate.

    Args:
        total_steps: T, the number of optimizer steps of the whole training (epochs x steps per epoch), >= 2.
        max_lr: the peak learning rate, > 0.
        pct_start, div_factor, final_div_factor: as `one_cycle` (0.3, 25, 1e4: PyTorch's defaults).
    """

    def __init__(self, total_steps: int, max_lr: float, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4):
        if int(total_steps) != total_steps or int(total_steps) < 2:
            raise ValueError(f"OneCycleLR: total_steps must be an integer >= 2; received {total_steps!r}")
        if not max_lr > 0:
            raise ValueError(f"OneCycleLR: max_lr must be > 0; received {max_lr!r}")
        if not 0 < pct_start < 1:
            raise ValueError(f"OneCycleLR: pct_start must be in (0, 1); received {pct_start!r}")
        if not (div_factor > 0 and final_div_factor > 0):
            raise ValueError(f"OneCycleLR: div_factor and final_div_factor must be > 0; received "
                             f"{div_factor!r}, {final_div_factor!r}")
        self.total_steps, self.max_lr = int(total_steps), float(max_lr)
        self.pct_start, self.div_factor, self.final_div_factor = float(pct_start), float(div_factor), \
            float(final_div_factor)

    def __call__(self, step):
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        end1 = self.pct_start * self.total_steps - 1
        end2 = float(self.total_steps - 1)
        s = ops.minimum(ops.cast(step, "float32"), end2)

        def anneal(start, end, pct):
            return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1.0)

        pct1 = s / end1 if end1 > 0 else ops.ones_like(s)
        up = anneal(initial, self.max_lr, pct1)
        down = anneal(self.max_lr, final, (s - end1) / (end2 - end1))
        return ops.cast(ops.where(s <= end1, up, down), "float32")

    def get_config(self):
        return {"total_steps": self.total_steps, "max_lr": self.max_lr, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}


class OneCycleScheduler(keras.callbacks.Callback):
    """Set the learning rate (and the `TorchSGD` momentum) from `one_cycle` before every batch.

    Args:
        total_steps: epochs x steps per epoch.
        max_lr: the peak learning rate.
        cycle_momentum: also cycle the momentum (the original's hidden behaviour; needs `TorchSGD`).
        **kwargs: the other `one_cycle` arguments.
    """

    def __init__(self, total_steps: int, max_lr: float, *, cycle_momentum: bool = True, **kwargs):
        super().__init__()
        self.total_steps, self.max_lr, self.cycle_momentum, self.kwargs = total_steps, max_lr, cycle_momentum, kwargs
        self.step = 0
        self.history = {"lr": [], "momentum": []}

    def on_train_batch_begin(self, batch, logs=None):
        step = min(self.step, self.total_steps - 1)
        lr, mom = one_cycle(step, self.total_steps, self.max_lr, cycle_momentum=self.cycle_momentum, **self.kwargs)
        opt = self.model.optimizer
        opt.learning_rate.assign(lr)
        if mom is not None:
            if isinstance(opt, TorchSGD) and not opt.built:
                opt.build(self.model.trainable_variables)
            if not hasattr(opt, "momentum_var"):
                raise ValueError(f"cycle_momentum=True needs solarcnn.flare.TorchSGD; received {type(opt).__name__}")
            opt.momentum_var.assign(mom)
        self.history["lr"].append(lr)
        self.history["momentum"].append(mom)
        self.step += 1
