"""Every numbered notebook follows the course's structure (CONTRIBUTING.md, "Notebook rules").

These are static checks of the stored sources; executing them is nbval's job (tools/test.sh).
"""
import ast
import re
from pathlib import Path

import nbformat
import pytest

from solarcnn import profiles
from solarcnn.course.runner import KERNEL_NAME, NOTEBOOK_RE

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if NOTEBOOK_RE.match(p.name))
HEADINGS = ["**Learning objectives**", "**Prerequisites**", "**Time and hardware**", "**Data and citation**"]


def _read(path):
    return nbformat.read(path, as_version=4)


def _tags(cell):
    return cell.metadata.get("tags", [])


def _params_cell(nb):
    cells = [c for c in nb.cells if "parameters" in _tags(c)]
    assert len(cells) == 1, f"expected one cell tagged 'parameters', found {len(cells)}"
    return cells[0]


def _assigned_names(source):
    return {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def test_notebooks_exist_and_are_numbered_contiguously():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers and numbers == list(range(len(numbers))), f"notebook numbers must run 00, 01, …: {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_header(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown"
    src = first.source
    assert re.match(rf"^# {path.name[:2]} · \S", src), "first line must be '# NN · Title'"
    positions = [src.find(h) for h in HEADINGS]
    assert all(p > 0 for p in positions), f"header lacks {[h for h, p in zip(HEADINGS, positions) if p < 0]}"
    assert positions == sorted(positions), f"header sections must come in the order {HEADINGS}"
    assert "| Concepts | Importance | Notes |" in src, "prerequisites table must have Concepts | Importance | Notes"
    assert re.search(r"\*\*Learning objectives\*\*\s*\n1\. ", src), "learning objectives must be a numbered list"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_cell_then_imports_then_parameters(path):
    """Rule 2: the first code cell is the Colab set-up cell (tagged colab-setup), the next the imports, then
    the parameters cell (its content is checked against book/_config.yml by tests/test_launch.py)."""
    code = [c for c in _read(path).cells if c.cell_type == "code"]
    assert "colab-setup" in _tags(code[0]), "the first code cell must be the Colab cell (tag colab-setup)"
    assert 'if "google.colab" in sys.modules:' in code[0].source
    assert re.match(r"^(import|from) ", code[1].source), "the Colab cell is followed by the imports cell"
    assert "parameters" in _tags(code[2]), "the imports cell is followed by the parameters cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_matches_profile_file(path):
    nb = _read(path)
    cell = _params_cell(nb)
    names = _assigned_names(cell.source)
    assert re.search(r'^PROFILE = "tiny"', cell.source, re.M), 'parameters cell must set PROFILE = "tiny"'
    settings = set(profiles.table(path.stem)["tiny"])
    missing = settings - names
    assert not missing, f"settings of {path.stem}.toml without a parameter: {sorted(missing)}"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'"{path.stem}"' in code, "the notebook must name itself (NOTEBOOK = ...) for setup/profile/record"
    index = nb.cells.index(cell)
    later = "\n".join(c.source for c in nb.cells[index + 1:] if c.cell_type == "code")
    assert "solarcnn.setup(" in later and "solarcnn.profile(" in later
    before = "\n".join(c.source for c in nb.cells[:index] if c.cell_type == "code")
    assert "solarcnn.setup(" not in before


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_house_rules(path):
    nb = _read(path)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "sys.path" not in code, "import the installed package; no sys.path edits"
    assert not re.search(r"^\s*(import tensorflow|from tensorflow)|\btf\.", code, re.M), \
        "notebooks stay backend-agnostic (keras / keras.ops only)"
    assert "solarcnn.record(" in code, "record the notebook's key results with solarcnn.record"
    # the course's named kernel (tools/setup.sh installs it; solarcnn.course.runner.KERNEL_NAME)
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL_NAME == "solarcnn"
    assert nb.metadata["kernelspec"].get("display_name") == "Python (solarcnn)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sources_are_clean_except_checked_cells(path):
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        assert not any(o.get("output_type") == "error" for o in cell.outputs), f"cell {i} stores an error"
        if "nbval-check-output" in _tags(cell):
            assert cell.execution_count is not None and cell.outputs, \
                f"cell {i} is checked by nbval but has no stored output (run tools/store_notebook.py)"
        else:
            assert not cell.outputs, f"cell {i} stores outputs; only nbval-check-output cells may"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_closing_sections_and_exercises(path):
    nb = _read(path)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("## Summary", "## Exercises", "## What's next", "## References"):
        assert heading in md, f"missing section {heading!r}"
    solutions = [c for c in nb.cells if "solution" in _tags(c)]
    assert len(solutions) >= 2, f"2–3 exercises with solutions expected; found {len(solutions)} solution cells"
    assert all(c.cell_type == "code" and "hide-input" in _tags(c) for c in solutions), \
        "solution cells are code cells tagged 'solution' and 'hide-input'"
    for i, c in enumerate(nb.cells):
        if "solution" in _tags(c):
            nxt = nb.cells[i + 1]
            assert "exercise-check" in _tags(nxt) and "solarcnn.exercises.check(" in nxt.source, \
                f"cell {i}: a solution is followed by its check cell (tag exercise-check)"


# A score-like number typed into prose: a decimal below 1 (0.93, .5) or a percentage (37 %, 1.3%).
_RESULT_LIKE = re.compile(r"(?<![\w.])(0?\.\d+|\d+(?:\.\d+)?\s?%)(?![\w.])")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_quotes_no_result_by_hand(path):
    """Issue 15: a number that a run produces is never typed into a Markdown cell, where it goes stale; the
    lesson writes it with ``solarcnn.say("... {metric:.2f} ...")`` from the run's recorded values. A Markdown
    cell may hold score-like numbers (decimals below 1, percentages) only when every such number is a fixed
    fact — a setting of the profile, a formula's constant, a published value — and the cell says so with the
    tag ``fixed-numbers``. The header (cell 0) is checked by test_header."""
    offending = []
    for i, cell in enumerate(_read(path).cells[1:], 1):
        if cell.cell_type != "markdown" or "fixed-numbers" in _tags(cell):
            continue
        text = re.sub(r"\$[^$]*\$|`[^`]*`|\]\([^)]*\)", "", cell.source)      # maths, code and link targets
        found = _RESULT_LIKE.findall(text)
        if found:
            offending.append(f"cell {i}: {found[:4]}")
    assert not offending, ("Markdown quoting score-like numbers: render run results with solarcnn.say, or tag "
                           f"the cell 'fixed-numbers' if they are settings or published values: {offending}")
