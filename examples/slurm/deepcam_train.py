#!/usr/bin/env python
"""Data-parallel DeepCAM training, one process per node (or per GPU): a thin wrapper of ``solarcnn deepcam train``.

    KERAS_BACKEND=jax        srun python examples/slurm/deepcam_train.py DATA --global-batch 2048 ...
    KERAS_BACKEND=tensorflow srun python examples/slurm/deepcam_train.py DATA --global-batch 2048 ...

is the same program as ``srun solarcnn deepcam train DATA ...``, which the sbatch files beside it run:
`solarcnn.deepcam.train_multiworker` (its docstring describes the options, the JAX and TensorFlow paths and the
process ranks). ``tests/test_deepcam_multiworker.py`` runs it with two processes over loopback.
"""
from __future__ import annotations

import sys

from solarcnn.deepcam.train_multiworker import main

if __name__ == "__main__":
    sys.exit(main())
