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
    precision: str = "float32"                         # "float32" or "bfloat16" (the policy mixed_bfloat16)
    precision_reason: str = ""                         # why (`choose_precision` for "auto")

    def __str__(self) -> str:
        mixed = "on (mixed_bfloat16)" if self.mixed_precision else "off (float32)"
        if self.precision_reason:
            mixed += f" ({self.precision_reason})"
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


PRECISIONS = ("auto", "float32", "bfloat16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and ":" in line:
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def gpu_compute_capability(backend: str | None = None) -> tuple[int, int] | None:
    """The lowest CUDA compute capability of the machine's NVIDIA GPUs (``nvidia-smi --query-gpu=compute_cap``),
    None without a GPU or where it cannot be read. Backend-independent (`backend` is accepted for callers
    that pass it and not used); `choose_precision` uses it only when the backend sees a GPU."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    caps = []
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        parts = line.strip().split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            caps.append((int(parts[0]), int(parts[1])))
    return min(caps) if caps else None


def choose_precision(devices: list[str], *, flags: set | None = None,
                     capability: tuple[int, int] | None = None, backend: str = "tensorflow") -> tuple[str, str]:
    """The rule of ``setup(mixed_precision="auto")``: ``(precision, reason)``.

    bf16 (the Keras policy ``mixed_bfloat16``) where the hardware has bf16 matrix units that make it faster:
    a GPU of compute capability >= 8.0 (Ampere and later: bf16 tensor cores), or, on the CPU, a CPU with
    AMX-BF16 (Intel Sapphire Rapids and later) under the TensorFlow backend, which reaches AMX through
    oneDNN. float32 everywhere else: CPUs with only AVX512-BF16 (no measured gain), and the JAX and PyTorch
    backends on a CPU (XLA's CPU bf16 ran several times slower than float32 in ``python -m benchmarks``;
    Keras-on-PyTorch bf16 was not measured faster). A documented rule, not a per-model guess.

    Args:
        devices: the devices the backend sees (`RuntimeInfo.devices`); a GPU among them decides.
        flags: the CPU flags (default `cpu_flags`).
        capability: the GPUs' compute capability (`gpu_compute_capability`), None if unknown.
        backend: the Keras backend (``"tensorflow"``, ``"jax"``, ``"torch"``); it matters on a CPU only.
    """
    if any("gpu" in d.lower() or "cuda" in d.lower() for d in devices):
        if capability is not None and tuple(capability) >= (8, 0):
            return "bfloat16", (f"auto: GPU compute capability {capability[0]}.{capability[1]} >= 8.0 "
                                "(bf16 tensor cores)")
        known = f"{capability[0]}.{capability[1]}" if capability else "unknown"
        return "float32", f"auto: GPU compute capability {known} < 8.0 or unknown: float32"
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        if backend == "tensorflow":
            return "bfloat16", "auto: CPU with AMX-BF16, TensorFlow backend (oneDNN)"
        return "float32", f"auto: CPU with AMX-BF16, but the {backend} backend is not faster in bf16 on a CPU"
    return "float32", "auto: no AMX-BF16 on this CPU and no GPU of compute capability >= 8.0"


def _check_versions(versions: dict) -> None:
    for mod, minimum in MIN_VERSIONS.items():
        v = versions.get(mod)
        if v is None:
            continue
        parts = tuple(int(p) for p in v.split(".")[:2] if p.isdigit())
        if parts < minimum:
            raise RuntimeError(f"solarcnn needs {mod} >= {'.'.join(map(str, minimum))}; found {v}. "
                               "Re-create the environment with the README's setup command.")


def setup(seed: int | None = 42, *, notebook: str | None = None, mixed_precision: bool | str = False,
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
        mixed_precision: ``"float32"`` (or False, the default), ``"bfloat16"`` (or True: the Keras
            policy ``mixed_bfloat16``, bf16 compute with float32 variables) or ``"auto"``: bf16 where
            the hardware has bf16 matrix units (`choose_precision`: a GPU of compute capability >= 8.0,
            or a CPU with AMX-BF16 under TensorFlow), float32 elsewhere. The choice is printed, returned
            (`RuntimeInfo.precision`) and stored with every metric `solarcnn.record` writes.
        style: load the bundled matplotlib style.
        verbose: print the report.

    Returns:
        A `RuntimeInfo` with backend, versions and devices.
    """
    choice = {False: "float32", True: "bfloat16"}.get(mixed_precision, mixed_precision) \
        if isinstance(mixed_precision, bool) else mixed_precision
    if choice not in PRECISIONS:
        raise ValueError(f"mixed_precision must be one of {PRECISIONS} (or True/False); "
                         f"received {mixed_precision!r}")
    _quieten_logs()
    import keras  # imported after the log settings on purpose

    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
        keras.utils.set_random_seed(seed)
    backend = keras.backend.backend()
    devices = _devices(backend)
    reason = ""
    if choice == "auto":
        choice, reason = choose_precision(devices, capability=gpu_compute_capability(backend), backend=backend)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if choice == "bfloat16" else "float32")
    _STATE["precision"] = choice
    if style:
        from . import plotting

        plotting.use_style()

    _STATE["notebook"] = notebook or _STATE.get("notebook") or os.environ.get("SOLARCNN_NOTEBOOK")
    _STATE["seed"] = seed
    from ._version import __version__

    versions = {"solarcnn": __version__, "keras": keras.__version__, "numpy": np.__version__}
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if backend_module and backend_module in sys.modules:
        versions[backend] = _version(backend_module)
    _check_versions(versions)
    info = RuntimeInfo(backend=backend, versions=versions, devices=devices, seed=seed,
                       mixed_precision=choice == "bfloat16", machine_gpus=nvidia_gpus(), precision=choice,
                       precision_reason=reason)
    if verbose:
        print(info)
    message = gpu_warning(backend, info.devices, info.machine_gpus)
    if message:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return info


def clear_session() -> None:
    """``keras.backend.clear_session()`` that keeps the precision `setup` chose.

    Keras' own ``clear_session`` also resets the global dtype policy to float32, so a notebook that clears
    the session between models (to free memory, or to start each search trial alike) would silently train
    the rest in float32 after ``setup(mixed_precision="auto")`` chose bf16 (notebooks 04 and 07 did, while
    their metrics said bfloat16). This clears the session and sets the policy back.
    """
    import keras

    policy = keras.config.dtype_policy()
    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)


def current_precision() -> str | None:
    """The precision `setup` chose (``"float32"`` or ``"bfloat16"``), None before `setup`."""
    return _STATE.get("precision")


def current_notebook() -> str | None:
    """The notebook name given to `setup` (or the runner's environment)."""
    return _STATE.get("notebook") or os.environ.get("SOLARCNN_NOTEBOOK")
