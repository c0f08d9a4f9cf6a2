"""Static checks of the project's own files: environment.yml, README quick start, .ci/run."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names of PyPI packages whose names differ
CONDA_NAME = {"tensorflow-cpu": "tensorflow", "matplotlib": "matplotlib-base"}


def _req(spec: str):
    spec = spec.split(";")[0].strip()
    m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(>=\s*[0-9][0-9.]*)?", spec)
    return m.group(1).lower(), (m.group(2) or "").replace(" ", "")


def _pyproject_requirements():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["dev"]
    out = {}
    for r in reqs:
        name, bound = _req(r)
        name = CONDA_NAME.get(name, name)
        out[name] = bound           # tensorflow / tensorflow-cpu collapse to one conda name
    return out


def test_environment_yml_parses_and_agrees_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    conda = dict(_req(d) for d in deps if isinstance(d, str) and d != "pip")
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-e ." in pip_section, "the pip section must install the solarcnn package"
    expected = _pyproject_requirements()
    missing = {n: b for n, b in expected.items() if n not in conda}
    assert not missing, f"in pyproject but not in environment.yml: {missing}"
    differ = {n: (conda[n], b) for n, b in expected.items() if conda[n] != b}
    assert not differ, f"lower bounds differ (environment.yml, pyproject): {differ}"
    extra = set(conda) - set(expected) - {"python", "openjpeg"}
    assert not extra, f"in environment.yml but not in pyproject: {extra}"


def test_environment_yml_has_a_comment_per_package():
    lines = [ln for ln in (ROOT / "environment.yml").read_text().splitlines() if re.match(r"^\s+- [a-z]", ln)]
    uncommented = [ln.strip() for ln in lines if "#" not in ln and ln.strip() not in ("- pip", "- pip:", "- conda-forge")]
    assert not uncommented, f"packages without a comment naming the notebook that needs them: {uncommented}"


def test_pyproject_uses_lower_bounds_only():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + [r for v in meta["optional-dependencies"].values() for r in v]
    pinned = [r for r in reqs if re.search(r"==|<|~=", r.split(";")[0])]
    assert not pinned, f"exact pins or upper bounds belong in requirements/constraints.txt: {pinned}"


def test_constraints_pin_every_direct_dependency():
    pins = {}
    for ln in (ROOT / "requirements/constraints.txt").read_text().splitlines():
        ln = ln.split("#")[0].strip()
        if ln:
            name, version = ln.split("==")
            pins[name.lower().replace("_", "-")] = version
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + [r for v in meta["optional-dependencies"].values() for r in v]
    names = {_req(r)[0].replace("_", "-") for r in reqs} - {"tensorflow"}   # tensorflow: non-Linux only
    assert names <= set(pins), f"not pinned in constraints.txt: {sorted(names - set(pins))}"
    assert pins["tensorflow-cpu"].startswith("2.21") and pins["keras"].startswith("3.15")


def _quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
    return [ln.split("#")[0].strip() for ln in block.splitlines() if ln.split("#")[0].strip()]


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_command():
    commands = _quick_start_commands()
    assert len(commands) == 2, f"the quick start must be exactly two commands; found {commands}"
    course, tests = commands
    ci = (ROOT / ".ci/run").read_text()
    ci_lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert tests in ci_lines, f".ci/run must run the README's test command {tests!r}"
    assert "tools/course.sh" in course and (ROOT / "tools/course.sh").exists()
    script = (ROOT / tests.split()[-1]).read_text()
    assert "--nbval-lax" in script and "notebooks" in script


def test_ci_script_fails_on_no_tests_collected():
    script = (ROOT / "tools/test.sh").read_text()
    assert re.search(r'"\$rc" = 5', script) and "set -euo pipefail" in (ROOT / ".ci/run").read_text()
