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
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

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
    machine_gpus: list = field(default_factory=list)   # NVIDIA GPUs on the machine (`nvidia_gpus`)

    def __str__(self) -> str:
        mixed = "on (mixed_bfloat16/float16)" if self.mixed_precision else "off"
        lines = [f"solarcnn {self.versions.get('solarcnn', '?')} | Keras {self.versions.get('keras', '?')} "
                 f"| backend {self.backend} {self.versions.get(self.backend, '')}".rstrip(),
                 f"Python {platform.python_version()} | NumPy {self.versions.get('numpy', '?')} "
                 f"| devices: {', '.join(self.devices) or 'cpu'}",
                 f"seed {self.seed} | mixed precision {mixed}"]
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
        pass
    if backend == "torch":          # Keras has no distribution API on PyTorch: ask torch itself
        try:
            import torch

            return ["cpu:0"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        except Exception:
            pass
    return []


def nvidia_gpus() -> list[str]:
    """The NVIDIA GPUs this machine has, whatever the Keras backend can use.

    ``nvidia-smi -L`` lines (``"GPU 0: NVIDIA H100 ..."``); without ``nvidia-smi``, one entry per
    ``/proc/driver/nvidia/gpus/<PCI address>``; empty when neither finds one.
    """
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        gpus = [ln.strip() for ln in out.stdout.splitlines() if ln.startswith("GPU ")] if out.returncode == 0 else []
        if gpus:
            return gpus
    except (OSError, subprocess.SubprocessError):
        pass
    proc = Path("/proc/driver/nvidia/gpus")
    try:
        return [f"NVIDIA GPU at PCI {p.name}" for p in sorted(proc.iterdir())] if proc.is_dir() else []
    except OSError:
        return []


GPU_HINTS = {
    "tensorflow": "install TensorFlow's CUDA libraries: pip install 'solarcnn[gpu]' (tools/setup.sh adds the gpu "
                  "extra when nvidia-smi lists a GPU)",
    "jax": "install JAX's CUDA build: pip install 'jax[cuda12]'",
    "torch": "install a CUDA build of PyTorch (the pip command on pytorch.org for your CUDA version)",
}


def gpu_warning(backend: str, devices: list[str], machine_gpus: list[str]) -> str | None:
    """The warning for an NVIDIA GPU the backend cannot use, or None when there is nothing to say.

    Args:
        backend: the Keras backend name.
        devices: the devices the backend sees (``keras.distribution.list_devices()``).
        machine_gpus: the machine's NVIDIA GPUs (`nvidia_gpus`).
    """
    if not machine_gpus or any("gpu" in d.lower() or "cuda" in d.lower() for d in devices):
        return None
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return None                                  # hidden on purpose
    return (f"this machine has {len(machine_gpus)} NVIDIA GPU(s) ({machine_gpus[0]}), but the {backend} backend "
            f"sees only {', '.join(devices) or 'the CPU'}: models will train on the CPU. To use the GPU, "
            f"{GPU_HINTS.get(backend, 'install a CUDA build of the backend')}.")


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
    on mixed precision, and reports versions and the devices the backend sees. Warns
    (``RuntimeWarning``) when the machine has an NVIDIA GPU the backend cannot use, with the
    install command that fixes it (`gpu_warning`).

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
                       mixed_precision=mixed_precision, machine_gpus=nvidia_gpus())
    if verbose:
        print(info)
    message = gpu_warning(backend, info.devices, info.machine_gpus)
    if message:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return info


def current_notebook() -> str | None:
    """The notebook name given to `setup` (or the runner's environment)."""
    return _STATE.get("notebook") or os.environ.get("SOLARCNN_NOTEBOOK")
