"""A wheel built from the checkout works as a new user gets it: installed into a clean virtual
environment and used from a folder outside the checkout (issue 12, item 1).

The sdist and the wheel are built with ``python -m build`` (the wheel from the sdist, so both are
checked). Re-installing TensorFlow and the rest into the new environment would take minutes, so the
new environment reuses this one's installed dependencies through a ``.pth`` line naming this
environment's site-packages. Python does not process ``.pth`` files inside a folder added that way,
so the editable install's finder (``__editable__*.pth`` here) never loads: ``solarcnn`` can only come
from the wheel, which the test checks (``solarcnn.__file__``, the manifest folder, no editable finder).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MIRROR = os.environ.get("SOLARCNN_DATA_MIRROR")
DATASET = "hinode_sot"                         # small (18 files, 4.6 MB) and the one notebook 00 reads
# variables that would point the new environment back into the checkout or this test session
CLEARED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SOLARCNN_MANIFESTS", "SOLARCNN_WORKDIR",
           "SOLARCNN_RESULTS_DIR", "SOLARCNN_NOTEBOOK", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
           "IPYTHONDIR", "MPLCONFIGDIR", "KERAS_HOME", "PIP_REQUIRE_VIRTUALENV", "COVERAGE_PROCESS_START")


def _run(cmd, *, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} exited {proc.returncode} in {cwd}\n"
                                  f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


@pytest.mark.slow
def test_wheel_in_a_clean_venv_runs_the_data_registry_and_notebook_00_outside_the_checkout(tmp_path):
    assert MIRROR, "SOLARCNN_DATA_MIRROR must name the data mirror (tools/test.sh and .ci/run set it)"
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(HOME=str(tmp_path / "home"), SOLARCNN_CACHE=str(tmp_path / "cache"),
               SOLARCNN_DATA_MIRROR=str(Path(MIRROR).resolve()), PIP_DISABLE_PIP_VERSION_CHECK="1")
    (tmp_path / "home").mkdir()

    # 1. sdist + wheel (built from the sdist) with this environment's setuptools
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT], cwd=ROOT, env=env)
    wheels = sorted(dist.glob("solarcnn-*.whl"))
    assert len(wheels) == 1 and len(list(dist.glob("solarcnn-*.tar.gz"))) == 1, sorted(p.name for p in dist.iterdir())

    # 2. a clean venv; the wheel installed without dependencies, then this environment's packages made visible
    prefix = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(prefix)
    py = prefix / "bin" / "python"
    user = tmp_path / "user"                   # the new user's folder, outside the checkout
    user.mkdir()
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=user, env=env).stdout.strip())
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", wheels[0]],
         cwd=user, env=env)
    here = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert not here.is_relative_to(prefix)
    (site / "_solarcnn_test_reuse_deps.pth").write_text(f"{here}\n")
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["VIRTUAL_ENV"] = str(prefix)

    # the package, its manifests and notebooks come from the wheel, not from the checkout
    probe = _run([py, "-c", "import json, os, sys, solarcnn\n"
                  "from solarcnn.data import manifests_dir\n"
                  "from solarcnn.course.runner import notebook_dir\n"
                  "print(json.dumps({'file': solarcnn.__file__, 'manifests': str(manifests_dir()), "
                  "'notebooks': str(notebook_dir()), 'cwd': os.getcwd(), "
                  "'editable': [m for m in sys.modules if 'editable' in m]}))"], cwd=user, env=env)
    info = json.loads(probe.stdout.strip().splitlines()[-1])
    pkg = site / "solarcnn"
    assert Path(info["file"]) == pkg / "__init__.py", info
    assert Path(info["manifests"]) == pkg / "_course" / "data_manifests", info
    assert Path(info["notebooks"]) == pkg / "_course" / "notebooks", info
    assert not info["editable"], f"the checkout's editable finder leaked in: {info['editable']}"
    assert not Path(info["cwd"]).resolve().is_relative_to(ROOT), info
    # the notebooks' kernel (the one the runner picks) is this venv's Python too
    argv = json.loads(_run([py, "-W", "ignore", "-c", "import json\n"
                            "from jupyter_client.kernelspec import KernelSpecManager as K\n"
                            "from solarcnn.course.runner import resolve_kernel\n"
                            "print(json.dumps(K().get_kernel_spec(resolve_kernel()).argv))"],
                           cwd=user, env=env).stdout.strip().splitlines()[-1])
    kernel_python = shutil.which(argv[0], path=env["PATH"])
    assert kernel_python and Path(kernel_python).parent == prefix / "bin", (argv, kernel_python)
    # the wheel's declared dependencies are met by the reused environment (a missing one would fail here)
    _run([py, "-m", "pip", "check"] if (site / "pip").is_dir() else
         [sys.executable, "-m", "pip", "--python", py, "check"], cwd=user, env=env)

    # 3. the data registry: list, fetch and verify a real data set from the mirror
    listed = _run(["solarcnn", "data", "list"], cwd=user, env=env).stdout
    names = sorted(p.stem for p in (ROOT / "data_manifests").glob("*.yaml"))
    missing = [n for n in names if n not in listed.split()]
    assert not missing, f"solarcnn data list from the wheel misses {missing}:\n{listed}"
    _run(["solarcnn", "data", "fetch", DATASET], cwd=user, env=env)
    verified = _run(["solarcnn", "data", "verify", DATASET], cwd=user, env=env)
    n_files = len(list((tmp_path / "cache" / DATASET).rglob("*.fits*")))
    assert n_files >= 9, f"fetch put {n_files} FITS files into the cache; verify said:\n{verified.stdout}"

    # 4. notebook 00 in the tiny profile, into ./runs/tiny of the user's folder
    before = sorted(p.relative_to(pkg) for p in pkg.rglob("*") if "__pycache__" not in p.parts)
    _run(["solarcnn", "run", "00", "--no-progress"], cwd=user, env=env, timeout=1200)
    run_dir = user / "runs" / "tiny"
    executed = json.loads((run_dir / "00_welcome.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    results = json.loads((run_dir / "results.json").read_text())
    assert "sot_files_verified" in json.dumps(results), results
    after = sorted(p.relative_to(pkg) for p in pkg.rglob("*") if "__pycache__" not in p.parts)
    assert after == before, "running the course wrote into the installed package"
    print(f"wheel build + clean venv + data list/fetch/verify + run 00: {time.perf_counter() - t0:.0f} s")
