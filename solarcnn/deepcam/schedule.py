"""DeepCAM's learning-rate schedule: the reference recipes. `WarmupMultiStep` itself lives in
`solarcnn.training.schedules` (the module docstring there explains the reference's off-by-one quirks) and
stays importable from here.
"""
from __future__ import annotations

from ..training.schedules import WarmupMultiStep  # noqa: F401


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
