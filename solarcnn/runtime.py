"""`solarcnn.setup`: the first call of every notebook.

It makes a run repeatable (seeds), tidy (framework logging quietened, one
matplotlib style) and self-describing (prints package, Keras, backend and
device information). Introduced in notebook 00.
"""
from __future__ import annotations

import importlib
import logging
import os
import platform
import random
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

_STATE: dict = {"notebook": None, "seed": None}

MIN_VERSIONS = {"keras": (3, 0), "numpy": (2, 0)}


@dataclass
class RuntimeInfo:
    """What `setup` found: versions, backend and devices."""

    backend: str
    versions: dict = field(default_factory=dict)
    devices: list = field(default_factory=list)
    seed: int | None = None
    mixed_precision: bool = False

    def __str__(self) -> str:
        lines = [f"solarcnn {self.versions.get('solarcnn', '?')} | Keras {self.versions.get('keras', '?')} "
                 f"| backend {self.backend} {self.versions.get(self.backend, '')}".rstrip(),
                 f"Python {platform.python_version()} | NumPy {self.versions.get('numpy', '?')} "
                 f"| devices: {', '.join(self.devices) or 'cpu'}",
                 f"seed {self.seed} | mixed precision {'on (mixed_bfloat16/float16)' if self.mixed_precision else 'off'}"]
        return "\n".join(lines)


def _quieten_logs() -> None:
    # Must be set before TensorFlow is imported to have an effect on the C++ side.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for name in ("tensorflow", "absl", "jax._src.xla_bridge", "h5py", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*Protobuf gencode version.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras.src.trainers.data_adapters")


def _version(mod: str) -> str | None:
    try:
        return importlib.import_module(mod).__version__
    except Exception:
        return None


def _devices(backend: str) -> list[str]:
    try:
        import keras

        return [str(d) for d in keras.distribution.list_devices()]
    except Exception:
        return []


def _check_versions(versions: dict) -> None:
    for mod, minimum in MIN_VERSIONS.items():
        v = versions.get(mod)
        if v is None:
            continue
        parts = tuple(int(p) for p in v.split(".")[:2] if p.isdigit())
        if parts < minimum:
            raise RuntimeError(f"solarcnn needs {mod} >= {'.'.join(map(str, minimum))}; found {v}. "
                               "Re-create the environment with the README's setup command.")


def setup(seed: int | None = 42, *, notebook: str | None = None, mixed_precision: bool = False,
          style: bool = True, verbose: bool = True) -> RuntimeInfo:
    """Prepare a notebook or script for a repeatable run.

    Seeds Python, NumPy and Keras (and through Keras the backend), quietens
    framework logging, loads the package's matplotlib style, optionally turns
    on mixed precision, and reports versions and devices.

    Args:
        seed: the random seed; `None` leaves the generators unseeded.
        notebook: the notebook's name (e.g. ``"02_slic_feature_classifier"``),
            used by `solarcnn.record` to file its metrics.
        mixed_precision: if True, use ``mixed_bfloat16`` (GPU/TPU with bf16, or
            CPU) via `keras.mixed_precision.set_global_policy`.
        style: load the bundled matplotlib style.
        verbose: print the report.

    Returns:
        A `RuntimeInfo` with backend, versions and devices.
    """
    _quieten_logs()
    import keras  # imported after the log settings on purpose

    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
        keras.utils.set_random_seed(seed)
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    else:
        keras.mixed_precision.set_global_policy("float32")
    if style:
        from . import plotting

        plotting.use_style()

    _STATE["notebook"] = notebook or _STATE.get("notebook") or os.environ.get("SOLARCNN_NOTEBOOK")
    _STATE["seed"] = seed
    backend = keras.backend.backend()
    from ._version import __version__

    versions = {"solarcnn": __version__, "keras": keras.__version__, "numpy": np.__version__}
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if backend_module and backend_module in sys.modules:
        versions[backend] = _version(backend_module)
    _check_versions(versions)
    info = RuntimeInfo(backend=backend, versions=versions, devices=_devices(backend), seed=seed,
                       mixed_precision=mixed_precision)
    if verbose:
        print(info)
    return info


def current_notebook() -> str | None:
    """The notebook name given to `setup` (or the runner's environment)."""
    return _STATE.get("notebook") or os.environ.get("SOLARCNN_NOTEBOOK")
