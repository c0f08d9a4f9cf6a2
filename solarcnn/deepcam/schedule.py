"""The DeepCAM learning-rate schedule: linear warmup then multistep decay, keyed on the optimizer step.

Reproduces what the reference (``mlcommons/hpc`` ``utils/schedulers.py`` and
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
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops


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


# The MLPerf HPC v1.0 reference convergence points (compliance/1.0.0/rcps_deepcam.json), keyed by global batch.
REFERENCE_RECIPES = {
    128: dict(ranks=32, local_batch=4, lr=0.001, warmup_steps=0, milestones=(8192, 16384), epochs="9"),
    256: dict(ranks=64, local_batch=4, lr=0.002, warmup_steps=0, milestones=(4096, 8192), epochs="9"),
    512: dict(ranks=128, local_batch=4, lr=0.004, warmup_steps=100, milestones=(2048, 4096), epochs="10-16"),
    1024: dict(ranks=256, local_batch=4, lr=0.004, warmup_steps=200, milestones=(1100, 4096), epochs="12-14"),
    2048: dict(ranks=1024, local_batch=2, lr=0.0055, warmup_steps=400, milestones=(800,), epochs="22-26"),
}


def reference_schedule(global_batch: int = 2048, *, faithful: bool = True) -> WarmupMultiStep:
    """The schedule of a reference recipe (global batch 128, 256, 512, 1024 or 2048)."""
    if global_batch not in REFERENCE_RECIPES:
        raise ValueError(f"no reference recipe for global batch {global_batch!r}; known: {sorted(REFERENCE_RECIPES)}")
    r = REFERENCE_RECIPES[global_batch]
    return WarmupMultiStep(r["lr"], r["milestones"], 0.1, r["warmup_steps"], 1.0, faithful=faithful)
