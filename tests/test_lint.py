"""The code is clean under ruff (pyproject's [tool.ruff]); the pre-commit hooks are configured and work."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LINTED = ["solarcnn", "tests", "tools", "benchmarks", "examples", "book/_ext", "conftest.py"]


def _pin(name: str) -> str:
    for ln in (ROOT / "requirements/constraints.txt").read_text().splitlines():
        ln = ln.split("#")[0].strip()
        if ln.lower().startswith(f"{name}=="):
            return ln.split("==")[1]
    raise AssertionError(f"{name} is not pinned in requirements/constraints.txt")


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *LINTED],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "No module named ruff" not in proc.stderr, "ruff is missing: pip install -e '.[dev]' (the dev extra)"
    assert proc.returncode == 0, f"ruff check {' '.join(LINTED)}:\n{proc.stdout}{proc.stderr}"
    version = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True).stdout
    assert version.split()[-1] == _pin("ruff"), f"{version.strip()} is not the pinned ruff {_pin('ruff')}"


def test_pre_commit_config_runs_ruff_at_the_pinned_version_and_the_notebook_check():
    cfg = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    repos = {r["repo"]: r for r in cfg["repos"]}
    ruff = repos["https://github.com/astral-sh/ruff-pre-commit"]
    assert ruff["rev"] == f"v{_pin('ruff')}", "the hook's ruff must be the one tests and CI use"
    assert [h["id"] for h in ruff["hooks"]] == ["ruff"]
    (hook,) = repos["local"]["hooks"]
    assert hook["entry"].split()[-1] == "tools/check_notebooks.py" and (ROOT / "tools/check_notebooks.py").is_file()
    pattern = re.compile(hook["files"])
    notebooks = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and all(pattern.search(n) for n in notebooks), (hook["files"], notebooks)
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _check(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools/check_notebooks.py"), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_notebook_hook_passes_the_sources_and_flags_stored_outputs(tmp_path):
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    proc = _check(*notebooks)
    assert proc.returncode == 0, proc.stderr
    nb = json.loads(notebooks[0].read_text())
    code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    plain = next(i for i in code if "nbval-check-output" not in nb["cells"][i]["metadata"].get("tags", []))
    checked = next(i for i in code if "nbval-check-output" in nb["cells"][i]["metadata"].get("tags", []))
    nb["cells"][plain]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "a timing: 3.2 s\n"}]
    nb["cells"][checked]["outputs"] = [{"output_type": "error", "ename": "ValueError", "evalue": "x", "traceback": []}]
    dirty = tmp_path / notebooks[0].name
    dirty.write_text(json.dumps(nb))
    proc = _check(dirty)
    assert proc.returncode == 1
    assert f"{dirty}: cell {plain} stores outputs" in proc.stderr and f"cell {checked} stores an error" in proc.stderr
    (tmp_path / "broken.ipynb").write_text("{not json")
    proc = _check(tmp_path / "broken.ipynb")
    assert proc.returncode == 1 and "not a readable notebook" in proc.stderr
