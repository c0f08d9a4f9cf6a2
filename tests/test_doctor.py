"""``solarcnn doctor`` on a good and on a broken environment (subprocesses with environment overrides).

The good one: the course's kernel (a kernelspec named ``solarcnn`` in a temporary ``JUPYTER_PATH``, starting
this interpreter), the TensorFlow backend, a cache holding one verified data set. The broken one: an unknown
``KERAS_BACKEND``, a ``solarcnn`` kernel whose interpreter does not exist, and a damaged cached file — each must
be reported with its fix, and the exit status must be 1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from solarcnn.course import doctor


def _kernel_dir(root: Path, python: str) -> Path:
    spec = root / "kernels" / "solarcnn"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (solarcnn)", "language": "python"}))
    return root


@pytest.fixture(scope="module")
def good_cache(tmp_path_factory):
    """A cache with hinode_sot fetched and verified (from the data mirror)."""
    cache = tmp_path_factory.mktemp("cache")
    env = dict(os.environ, SOLARCNN_CACHE=str(cache))
    subprocess.run([sys.executable, "-m", "solarcnn", "data", "fetch", "hinode_sot"], env=env, check=True,
                   capture_output=True, text=True)
    return cache


def _doctor(env_overrides: dict, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_overrides)
    return subprocess.run([sys.executable, "-m", "solarcnn", "doctor", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_good_environment_exits_0(good_cache, tmp_path):
    jp = _kernel_dir(tmp_path / "jupyter", sys.executable)
    proc = _doctor({"SOLARCNN_CACHE": str(good_cache), "KERAS_BACKEND": "tensorflow", "JUPYTER_PATH": str(jp)})
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-2000:]
    assert "ready for the course" in out and "PROBLEM" not in out
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in out
    assert "backend tensorflow" in out and "devices: cpu" in out.lower()
    assert "Jupyter kernel 'solarcnn' \"Python (solarcnn)\"" in out
    assert any(line.startswith("ok") and "hinode_sot" in line and "present and verified" in line
               for line in out.splitlines())


def test_broken_environment_reports_each_problem_with_a_fix(good_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(good_cache, cache)
    victim = sorted((cache / "hinode_sot").glob("*.fits.gz"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF                               # one flipped byte: same size, other SHA-256
    victim.write_bytes(bytes(data))
    jp = _kernel_dir(tmp_path / "jupyter", str(tmp_path / "gone" / "bin" / "python"))
    proc = _doctor({"SOLARCNN_CACHE": str(cache), "KERAS_BACKEND": "tensorflwo", "JUPYTER_PATH": str(jp)})
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr[-2000:]
    lines = out.splitlines()

    def problem(topic):
        i = next(i for i, ln in enumerate(lines) if ln.startswith("PROBLEM") and topic in ln)
        assert lines[i + 1].strip().startswith("fix:"), f"no fix after {lines[i]!r}"
        return lines[i] + "\n" + lines[i + 1]

    assert "KERAS_BACKEND='tensorflwo' is not a Keras backend" in problem("backend")
    assert "export KERAS_BACKEND=tensorflow" in problem("backend")
    assert "does not exist" in problem("kernel") and "ipykernel install" in problem("kernel")
    damaged = problem("data hinode_sot")
    assert victim.name in damaged and "checksum mismatch" in damaged and "solarcnn data fetch hinode_sot" in damaged
    assert "3 problem(s)" in out


def test_missing_kernel_and_offline_mode(tmp_path, monkeypatch):
    """In-process: a kernel that is not installed, and --offline turning 'not fetched yet' into a problem."""
    f = doctor.check_kernel("solarcnn-no-such-kernel")
    assert f.status == "problem" and "is not installed" in f.message and "tools/setup.sh" in f.fix
    monkeypatch.setenv("SOLARCNN_CACHE", str(tmp_path / "empty-cache"))
    relaxed = {f.topic: f for f in doctor.check_data()}
    strict = {f.topic: f for f in doctor.check_data(offline=True)}
    assert relaxed["data wsiseg"].status == "note" and strict["data wsiseg"].status == "problem"
    assert "solarcnn data fetch wsiseg" in strict["data wsiseg"].fix
    assert doctor.report([doctor.check_python((3, 10, 4))], file=open(os.devnull, "w")) == 1
