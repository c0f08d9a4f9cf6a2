"""Cloud launch: the Binder configuration, the book's launch buttons, the notebooks' Colab cells — and a fresh
virtual environment built from the Binder requirements that imports the package and runs notebook 00.

Binder and Colab cannot be reached from CI, so what is tested is what they would use: ``.binder/`` (installed
here into a new venv, whose dependencies come from this environment through a ``.pth`` line, as in
test_wheel_install.py, so nothing is downloaded) and each notebook's Colab cell (executed with and without a
stand-in ``google.colab`` module, with ``subprocess.run`` recorded instead of run).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import types
import venv
from pathlib import Path

import pytest
import yaml

from solarcnn.course import launch
from solarcnn.data import list_datasets

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CLEARED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SOLARCNN_MANIFESTS", "SOLARCNN_WORKDIR", "SOLARCNN_RESULTS_DIR",
           "SOLARCNN_NOTEBOOK", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "MPLCONFIGDIR",
           "PIP_REQUIRE_VIRTUALENV")


def _nb(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_binder_configuration_and_launch_buttons():
    binder = ROOT / ".binder"
    reqs = (binder / "requirements.txt").read_text().splitlines()
    assert "-c ../requirements/constraints.txt" in reqs and "-e ." in reqs
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    post = binder / "postBuild"
    assert os.access(post, os.X_OK)
    assert 'ipykernel install --sys-prefix --name solarcnn --display-name "Python (solarcnn)"' in post.read_text()
    assert not (ROOT / "binder").exists(), "one Binder folder (.binder/): repo2docker would ignore the other"

    cfg = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert cfg["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert cfg["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert cfg["repository"]["url"] == launch.repository_url() and cfg["repository"]["path_to_book"] == "notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_cell_is_the_first_code_cell_and_fetches_the_notebooks_data(path):
    nb = _nb(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert launch.COLAB_TAG in code[0]["metadata"].get("tags", []), "the first code cell is the Colab cell"
    assert "".join(code[0]["source"]) == launch.colab_cell_source(path.stem, launch.repository_url()), \
        "Colab cell out of date: run python -m solarcnn.course.launch"
    used = set(re.findall(r'fetch\("([a-z0-9_]+)"', "\n".join("".join(c["source"]) for c in code)))
    data = set(launch.NOTEBOOK_DATA[path.stem])
    assert used <= data, f"the notebook fetches {sorted(used - data)} but its Colab cell does not"
    assert data <= set(list_datasets(kind="files"))


def test_colab_cell_does_nothing_elsewhere_and_installs_on_colab(monkeypatch):
    src = launch.colab_cell_source("06_fulldisk_flare_prediction", "https://github.com/example/fork")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(src, "<colab cell>", "exec"), {})
    assert calls == []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(src, "<colab cell>", "exec"), {})
    assert calls[0][-1] == "solarcnn @ git+https://github.com/example/fork"
    assert calls[0][1:4] == ["-m", "pip", "install"]
    assert [c[-1] for c in calls[1:]] == ["goes_flares", "hmi_magnetograms"]
    assert all(c[1:5] == ["-m", "solarcnn", "data", "fetch"] for c in calls[1:])


def test_repository_url_must_be_an_https_url(tmp_path):
    from solarcnn.errors import DataFileError

    bad = tmp_path / "_config.yml"
    bad.write_text("repository:\n  url: ''\n")
    with pytest.raises(DataFileError, match="repository.url"):
        launch.repository_url(bad)


@pytest.mark.slow
def test_fresh_venv_from_the_binder_requirements_runs_notebook_00(tmp_path):
    mirror = os.environ.get("SOLARCNN_DATA_MIRROR")
    assert mirror, "SOLARCNN_DATA_MIRROR must name the data mirror (conftest.py sets it in CI)"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(HOME=str(tmp_path / "home"), SOLARCNN_CACHE=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               SOLARCNN_DATA_MIRROR=str(Path(mirror).resolve()), SOLARCNN_WORKDIR=str(tmp_path / "work"))
    (tmp_path / "home").mkdir()

    def run(cmd, cwd=ROOT, timeout=600):
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{cmd} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    prefix = tmp_path / "binder-venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(prefix)
    py = prefix / "bin" / "python"
    site = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "_reuse_course_deps.pth").write_text(f"{Path(sysconfig.get_paths()['purelib']).resolve()}\n")
    # what repo2docker does, offline: the requirements file from the repository root, then postBuild
    run([sys.executable, "-m", "pip", "--python", py, "install", "--no-index", "--no-build-isolation",
         "-r", ".binder/requirements.txt"])
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["VIRTUAL_ENV"] = str(prefix)
    run(["bash", ".binder/postBuild"])
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / "solarcnn" / "kernel.json").read_text())
    assert Path(spec["argv"][0]).parent == prefix / "bin" and spec["display_name"] == "Python (solarcnn)"

    probe = run([py, "-c", "import solarcnn, sys; print(solarcnn.__file__); print(sys.prefix)"], cwd=tmp_path)
    file, sys_prefix = probe.stdout.strip().splitlines()[-2:]
    assert Path(file).resolve().is_relative_to(ROOT) and Path(sys_prefix) == prefix

    out = tmp_path / "run"
    proc = run([py, "-m", "solarcnn", "run", "00", "--run-dir", out, "--no-progress"], cwd=tmp_path, timeout=900)
    executed = _nb(out / "00_welcome.ipynb")
    assert executed["metadata"]["kernelspec"]["name"] == "solarcnn"
    assert "is not installed" not in proc.stderr + proc.stdout, "the named kernel was found (no python3 fallback)"
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    checks = [c for c in executed["cells"] if "exercise-check" in c["metadata"].get("tags", [])]
    assert checks and all("right." in json.dumps(c["outputs"]) for c in checks)
