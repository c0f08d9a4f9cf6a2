"""Static checks of the project's own files: environment.yml, README quick start, .ci/run."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names of PyPI packages whose names differ
CONDA_NAME = {"matplotlib": "matplotlib-base", "build": "python-build", "isal": "python-isal"}


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
        out[name] = bound
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
    bare = ("- pip", "- pip:", "- conda-forge")
    uncommented = [ln.strip() for ln in lines if "#" not in ln and ln.strip() not in bare]
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
    names = {_req(r)[0].replace("_", "-") for r in reqs}
    assert names <= set(pins), f"not pinned in constraints.txt: {sorted(names - set(pins))}"
    assert pins["tensorflow"].startswith("2.21") and pins["keras"].startswith("3.15")
    assert "tensorflow-cpu" not in pins, "one TensorFlow distribution: tensorflow (the gpu extra adds CUDA to it)"


def _bound(spec: str) -> tuple[int, ...]:
    m = re.fullmatch(r">=\s*(\d+)\.(\d+)", spec.strip())
    assert m, f"expected a lower bound like '>=3.11'; found {spec!r}"
    return int(m.group(1)), int(m.group(2))


def test_requires_python_covers_the_code_and_agrees_with_environment_yml():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bound = _bound(meta["requires-python"].split("#")[0])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python>="))
    assert _bound(conda_python[len("python"):]) == bound, (conda_python, meta["requires-python"])
    # modules of the standard library the package imports that appeared after 3.10
    newer = {"tomllib": (3, 11)}
    used = {mod: v for mod, v in newer.items()
            for f in (ROOT / "solarcnn").rglob("*.py")
            if re.search(rf"^\s*(import|from) {mod}\b", f.read_text(), re.M)}
    too_old = {mod: v for mod, v in used.items() if bound < v}
    assert not too_old, f"requires-python >= {bound} but the package imports {too_old} (module: first Python)"


def test_extras_and_the_tensorflow_distribution():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    assert {"gpu", "jax", "torch", "sunpy", "dev"} <= set(extras), sorted(extras)
    base = {_req(r)[0] for r in meta["dependencies"]}
    assert "tensorflow" in base and "tensorflow-cpu" not in base, sorted(base)
    assert any(r.replace(" ", "").startswith("tensorflow[and-cuda]") for r in extras["gpu"]), extras["gpu"]
    assert "ipywidgets" in base, "tqdm's bars need ipywidgets to render in JupyterLab"
    assert {"jax", "torch"}.isdisjoint(base), "JAX and PyTorch are extras, not every student's download"
    dev = {_req(r)[0] for r in extras["dev"]}
    assert {"pytest", "nbval", "ruff", "pre-commit", "build"} <= dev, sorted(dev)
    # tests/test_wheel_install.py builds with `python -m build --no-isolation`: the dev extra brings the backend
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert {r.replace(" ", "") for r in backend} <= {r.replace(" ", "") for r in extras["dev"]}, backend


def _extras_in(script: str, var: str = "SOLARCNN_EXTRAS") -> set[str]:
    m = re.search(rf"{var}:-([a-z,]+)\}}", script)
    assert m, f"no ${{{var}:-...}} default found"
    return set(m.group(1).split(","))


def test_setup_installs_the_course_by_default_and_ci_what_the_tests_import():
    setup = (ROOT / "tools/setup.sh").read_text()
    assert _extras_in(setup) == {"dev"}, "the default install is the course (TensorFlow) and the README's dev tools"
    assert "nvidia-smi" in setup and "gpu" in setup, "setup.sh must add the gpu extra when nvidia-smi sees a GPU"
    ci = (ROOT / ".ci/run").read_text()
    ci_extras = _extras_in(ci)
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # every optional package the tests import needs its extra in CI
    optional = {_req(r)[0]: extra for extra, reqs in meta["optional-dependencies"].items() if extra != "gpu"
                for r in reqs}
    imported = set()
    for f in [*(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        for a, b in re.findall(r"(?:^\s*(?:import|from) (\w+))|(?:importorskip\(\"(\w+)\")", f.read_text(), re.M):
            imported.add(a or b)
    needed = {optional[m] for m in imported if m in optional}
    assert {"jax", "torch"} <= needed, needed       # the suite does run JAX and PyTorch code
    assert needed <= ci_extras, f".ci/run installs extras {sorted(ci_extras)}; the tests need {sorted(needed)}"


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


def test_license_and_citation_agree_with_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    licence = (ROOT / "LICENSE").read_text()
    assert meta["license"] == "MIT" and licence.startswith("MIT License")
    assert re.search(r"Copyright \(c\) 20\d\d solarcnn developers", licence)
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["message"]
    assert cff["version"] == meta["version"] and cff["license"] == meta["license"]
    assert cff["authors"] == [{"name": a["name"]} for a in meta["authors"]]
    refs = cff["references"]
    # the four tracks' papers: Slic, CIRRUS, DeepCAM, full-disk flare prediction (README "Citing the science")
    readme = (ROOT / "README.md").read_text().split("## Citing the science", 1)[1]
    for family in ("Armstrong", "Sommer", "Kurth", "Pandey"):
        assert family in readme
        (ref,) = [r for r in refs if r["authors"][0].get("family-names") == family]
        assert ref["title"] and ref["year"] and ref["type"] in ("article", "conference-paper")
        ids = [ref.get("doi", "")] + [i["value"] for i in ref.get("identifiers", [])]
        assert any(re.fullmatch(r"10\.\d{4,}/\S+|arXiv:\d{4}\.\d{4,5}", i) for i in ids), (family, ids)
