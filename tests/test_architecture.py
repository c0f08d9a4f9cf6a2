"""The package's house rules that hold for every file: layers, one Keras name per class, no machine paths.

Layers (CONTRIBUTING.md, "Where things live"), each importing only from those below it; imports inside
functions count:

0 ``errors``, ``utils``, ``_version`` · 1 ``io``, ``metrics``, ``plotting`` · 2 ``models``, ``training``,
``data``, ``profiles``, ``runtime``, ``results`` · 3 ``synthetic`` · 4 the tracks ``slic``, ``cirrus``,
``deepcam``, ``flare`` · 5 ``course`` (runner, book, CLI), the package ``__init__``/``__main__`` and the
deprecated aliases of moved modules.
"""
from __future__ import annotations

import ast
import importlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "solarcnn"

LAYERS = {
    "errors": 0, "utils": 0, "_version": 0,
    "io": 1, "metrics": 1, "plotting": 1,
    "models": 2, "training": 2, "data": 2, "profiles": 2, "runtime": 2, "results": 2,
    "synthetic": 3,
    "slic": 4, "cirrus": 4, "deepcam": 4, "flare": 4,
    "course": 5, "__init__": 5, "__main__": 5,
}
# Old module names kept for one release; each re-exports a module of the course wing.
DEPRECATED_ALIASES = {"runner", "book", "cli", "book_cli", "bench_cli"}
TOP = 5


def _modules() -> list[tuple[Path, list[str]]]:
    """Every module of the package as (file, dotted parts below ``solarcnn``, ``__init__`` dropped)."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG).with_suffix("").parts)
        out.append((path, parts))
    return out


def layer_of(parts: list[str]) -> int:
    """The layer of the module ``solarcnn.<parts>`` (``[]`` or ``["__init__"]``: the package itself)."""
    if not parts or parts == ["__init__"]:
        return TOP
    head = parts[0]
    if head in DEPRECATED_ALIASES:
        return TOP
    if head not in LAYERS:
        raise AssertionError(f"solarcnn.{'.'.join(parts)}: the layer table does not know {head!r}; add it to "
                             f"LAYERS here and to CONTRIBUTING.md's map")
    return LAYERS[head]


def imported_modules(path: Path, parts: list[str]) -> list[tuple[int, list[str]]]:
    """(line, target parts below ``solarcnn``) for every import of a solarcnn module in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = parts[:-1]            # the package holding this module (for __init__: the package itself)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "solarcnn":
                    found.append((node.lineno, names[1:]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    raise AssertionError(f"{path}:{node.lineno}: relative import above the package")
                base = package[:len(package) - (node.level - 1)]
            elif node.module and node.module.split(".")[0] == "solarcnn":
                base = []
                node_module = node.module.split(".")[1:]
                if node_module:
                    found.append((node.lineno, node_module))
                    continue
            else:
                continue
            if node.level and node.module:
                found.append((node.lineno, base + node.module.split(".")))
            else:                    # from . import a, b  /  from solarcnn import a, b
                for alias in node.names:
                    found.append((node.lineno, base + [alias.name]))
    return found


def upward_imports() -> list[str]:
    bad = []
    for path, parts in _modules():
        me = layer_of(parts)
        for line, target in imported_modules(path, parts):
            target = [p for p in target if p != "__init__"]
            if target and target[0] not in LAYERS and target[0] not in DEPRECATED_ALIASES:
                # ``from solarcnn import setup`` and the like: a name of the package's __init__
                them = TOP
            else:
                them = layer_of(target)
            same_unit = bool(target) and target[0] == parts[0]
            if them > me and not same_unit:
                bad.append(f"{path.relative_to(ROOT)}:{line}: layer {me} imports solarcnn.{'.'.join(target)} "
                           f"(layer {them})")
    return bad


def test_layer_table_covers_the_package():
    heads = {parts[0] for _, parts in _modules()}
    unknown = heads - set(LAYERS) - DEPRECATED_ALIASES
    assert not unknown, f"modules outside the layer table: {sorted(unknown)}"


def test_no_import_points_up_the_layers():
    bad = upward_imports()
    assert not bad, "imports that point up the layers:\n" + "\n".join(bad)


def test_layer_checker_sees_imports_inside_functions(tmp_path):
    """The checker itself can fail: imports of the runner and of a track inside a function of `io` are seen."""
    path = tmp_path / "fits.py"
    path.write_text("def f():\n    from ..course.runner import run_notebooks\n    from solarcnn import cirrus\n"
                    "    import solarcnn.deepcam.data\n")
    targets = [t for _, t in imported_modules(path, ["io", "fits"])]
    assert targets == [["course", "runner"], ["cirrus"], ["deepcam", "data"]]
    assert [layer_of(t) for t in targets] == [5, 4, 4] and layer_of(["io", "fits"]) == 1


# ---------------------------------------------------------------------------------------------------------------
# Keras serializable names
# ---------------------------------------------------------------------------------------------------------------

def _registrations() -> list[tuple[str, str, str, int]]:
    """(registered key ``package>name``, module, class, line) for every ``register_keras_serializable`` use."""
    out = []
    for path, parts in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = ".".join(["solarcnn", *[p for p in parts if p != "__init__"]])
        for node in ast.walk(tree):
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                continue
            for dec in node.decorator_list:
                call = dec if isinstance(dec, ast.Call) else None
                func = call.func if call else dec
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name != "register_keras_serializable":
                    continue
                kw = {k.arg: k.value.value for k in (call.keywords if call else [])
                      if isinstance(k.value, ast.Constant)}
                args = [a.value for a in (call.args if call else []) if isinstance(a, ast.Constant)]
                package = kw.get("package", args[0] if args else "Custom")
                reg_name = kw.get("name", args[1] if len(args) > 1 else node.name)
                out.append((f"{package}>{reg_name}", module, node.name, node.lineno))
    return out


def test_every_keras_name_is_registered_once():
    regs = _registrations()
    assert regs, "found no register_keras_serializable use at all: the search is broken"
    seen: dict[str, str] = {}
    dup = []
    for key, module, cls, line in regs:
        where = f"{module}.{cls} (line {line})"
        if key in seen:
            dup.append(f"{key}: {seen[key]} and {where}")
        seen[key] = where
    assert not dup, "Keras names registered twice (loading a saved model could pick the wrong class):\n" + \
        "\n".join(dup)


def test_keras_registry_holds_each_class_under_its_name():
    """After importing every module that registers, each registered key maps to its own class (none overwritten)."""
    keras = pytest.importorskip("keras")
    regs = _registrations()
    for _, module, _, _ in regs:
        importlib.import_module(module)
    for key, module, cls, _ in regs:
        obj = keras.saving.get_registered_object(key)
        expected = getattr(importlib.import_module(module), cls)
        assert obj is expected, f"{key} resolves to {obj!r}, not {module}.{cls}"
        assert keras.saving.get_registered_name(expected) == key


# ---------------------------------------------------------------------------------------------------------------
# Machine paths
# ---------------------------------------------------------------------------------------------------------------

MACHINE_PATH = re.compile(r"(?<![\w.])/(work|root|home/\w+)/")
CHECKED_SUFFIXES = {".py", ".sh", ".md", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".ipynb"}


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:     # not a git checkout: walk the tree instead
        pytest.fail(f"git ls-files failed in {ROOT} ({exc}); this test needs the source checkout")
    return [ROOT / p for p in out.decode().split("\0") if p]


def test_no_committed_file_holds_a_machine_path():
    files = [p for p in _tracked_files() if p.suffix in CHECKED_SUFFIXES and p.is_file()]
    assert len(files) > 50, f"only {len(files)} tracked files found: the listing is broken"
    hits = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not hits, "paths of one particular machine in committed files:\n" + "\n".join(hits)


def test_machine_path_pattern_catches_and_spares():
    assert MACHINE_PATH.search("DATA = \"" + "/work" + "/shared/data\"")
    assert MACHINE_PATH.search("cd " + "/root" + "/x && ls")
    assert MACHINE_PATH.search("open('" + "/home" + "/alice/file')")
    assert not MACHINE_PATH.search("see docs/work/notes.md and ./work/x")
    assert not MACHINE_PATH.search("https://example.org/work/x")


# ---------------------------------------------------------------------------------------------------------------
# Generators and deprecated aliases
# ---------------------------------------------------------------------------------------------------------------

def test_every_listed_generator_module_registers_a_generator():
    from solarcnn import synthetic
    from solarcnn.synthetic import base

    names = synthetic.available()
    modules = {cls.__module__ for cls in base._REGISTRY.values()}
    assert modules == {f"solarcnn.synthetic.{m}" for m in synthetic._MODULES}, (modules, synthetic._MODULES)
    assert {"sunspot_disk", "sot", "allsky_ir", "cam5", "magnetogram"} <= set(names)


def test_a_missing_generator_module_is_an_error(monkeypatch):
    from solarcnn import synthetic

    monkeypatch.setattr(synthetic, "_MODULES", [*synthetic._MODULES, "no_such_generator_module"])
    with pytest.raises(ModuleNotFoundError, match="no_such_generator_module"):
        synthetic.available()


@pytest.mark.parametrize("old, new", [("solarcnn.runner", "solarcnn.course.runner"),
                                      ("solarcnn.book", "solarcnn.course.book"),
                                      ("solarcnn.cli", "solarcnn.course.cli"),
                                      ("solarcnn.book_cli", "solarcnn.course.book_cli"),
                                      ("solarcnn.bench_cli", "solarcnn.course.bench_cli")])
def test_moved_modules_keep_their_old_name_with_a_warning(old, new):
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_moved_loss_keeps_its_old_name_with_a_warning():
    from solarcnn.metrics import segmentation
    from solarcnn.training import losses

    with pytest.warns(DeprecationWarning, match="solarcnn.training.losses"):
        old = segmentation.masked_binary_crossentropy
    assert old is losses.masked_binary_crossentropy
    with pytest.raises(AttributeError):
        segmentation.no_such_name   # noqa: B018
