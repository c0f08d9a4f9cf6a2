"""tools/setup.sh chooses the extras: the course by default, more on request, gpu where nvidia-smi lists a GPU.

Runs the real script on a copy of the files it reads, in its dry-run mode (``SOLARCNN_SETUP_DRY_RUN=1``: it
prints what it would install and changes nothing), with a fake ``nvidia-smi`` first on the PATH.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GPU_LIST = "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0b1c)\n"


@pytest.fixture
def checkout(tmp_path):
    for rel in ("tools/setup.sh", "pyproject.toml", "requirements/constraints.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def _setup(root: Path, *, gpus: str | None, extras: str | None = None) -> str:
    fake = root / "fakebin"
    fake.mkdir(exist_ok=True)
    smi = fake / "nvidia-smi"
    if gpus is None:        # a driver tool that finds nothing (shadows a real one on a GPU machine)
        smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    else:
        smi.write_text(f"#!/bin/sh\n[ \"$1\" = -L ] && printf '%s' '{gpus}'\n")
    smi.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SOLARCNN_EXTRAS"}
    env.update(PATH=f"{fake}{os.pathsep}{env.get('PATH', os.defpath)}", SOLARCNN_SETUP_DRY_RUN="1")
    if extras is not None:
        env["SOLARCNN_EXTRAS"] = extras
    proc = subprocess.run(["bash", str(root / "tools/setup.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _stamp(root: Path, extras: str) -> None:
    (root / ".venv/bin").mkdir(parents=True)
    (root / ".venv/bin/python").write_text("#!/bin/sh\n")
    (root / ".venv/bin/python").chmod(0o755)
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes()
                            + (root / "requirements/constraints.txt").read_bytes()).hexdigest()
    (root / ".venv/.solarcnn-stamp").write_text(f"{digest} {extras}\n")


def test_default_is_the_course_and_dev_tools_only(checkout):
    out = _setup(checkout, gpus=None)
    assert out.strip().splitlines()[-1] == "would install extras: dev", out


def test_a_gpu_listed_by_nvidia_smi_adds_the_gpu_extra(checkout):
    out = _setup(checkout, gpus=GPU_LIST)
    assert "nvidia-smi lists a GPU" in out and out.strip().splitlines()[-1] == "would install extras: dev,gpu", out
    out = _setup(checkout, gpus=GPU_LIST, extras="dev,gpu")            # asked for already: not twice
    assert out.strip().splitlines()[-1] == "would install extras: dev,gpu", out
    out = _setup(checkout, gpus="No devices were found\n")             # nvidia-smi without a GPU
    assert out.strip().splitlines()[-1] == "would install extras: dev", out


def test_extras_on_request_and_installed_ones_stay(checkout):
    _stamp(checkout, "dev,jax,torch")
    assert _setup(checkout, gpus=None).strip().endswith("up to date; extras: dev,jax,torch")
    out = _setup(checkout, gpus=None, extras="dev,sunpy")
    assert out.strip().endswith("would install extras: dev,jax,sunpy,torch"), out
    (checkout / "requirements/constraints.txt").write_text("keras==9.9.9\n")   # pins changed: reinstall
    assert _setup(checkout, gpus=None).strip().endswith("would install extras: dev,jax,torch")
