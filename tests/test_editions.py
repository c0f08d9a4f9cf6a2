"""Student and instructor editions of the notebooks (`solarcnn.course.editions`), from the sources in notebooks/.

The student edition must hold no solution code and no solution output, and each of its stubs must leave the
check cell after it runnable: the check then says what is still to do (it does not raise).
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from solarcnn.course import editions, exercises
from solarcnn.course.cli import main
from solarcnn.errors import DataFileError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _nb(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


class _Placeholder:
    """Stands for what the notebook computed before its exercises (``x_bug[test_idx]``, ``work / "f.keras"``)."""

    def __getattr__(self, name):
        return self

    def __getitem__(self, key):
        return self

    def __truediv__(self, other):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter([self])


class _Anything(dict):
    """Names the notebook defined before the exercises: a placeholder will do for a stub's check call."""

    def __missing__(self, key):
        return _Placeholder()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_has_no_solution_and_its_checks_run(path, monkeypatch, capsys):
    monkeypatch.delenv(exercises.STRICT_VAR, raising=False)
    source = _nb(path)
    student = editions.student_notebook(source, path)
    assert editions.solution_leaks(student, source) == []
    assert len(student["cells"]) == len(source["cells"])           # one stub per solution, nothing else changes
    stubs = [c for c in student["cells"] if editions.STUB_TAG in _tags(c)]
    assert len(stubs) == sum(editions.SOLUTION_TAG in _tags(c) for c in source["cells"])
    for i, cell in enumerate(student["cells"]):
        if editions.STUB_TAG not in _tags(cell):
            continue
        stub, check = _src(cell), _src(student["cells"][i + 1])
        assert "your code here" in stub and not cell["outputs"] and cell["execution_count"] is None
        assert editions.CHECK_TAG in _tags(student["cells"][i + 1])
        ns = _Anything()
        import solarcnn
        ns["solarcnn"] = solarcnn
        exec(compile(stub, "<stub>", "exec"), {}, ns)
        ex_id, kwargs = editions.check_call(check)
        spec = exercises.EXERCISES[ex_id]
        assert set(spec.answers) <= set(kwargs), f"{ex_id}: the check cell passes every answer"
        for kw in spec.answers:                                    # every answer comes from the stub: None
            assert ns.get(kwargs[kw], "unset") is None, f"{ex_id}: the stub does not define {kwargs[kw]}"
        call = ast.parse(check).body[-1].value                  # the cell's last statement: check(...)
        result = eval(compile(ast.Expression(call), "<check>", "eval"), ns)   # ns as globals: comprehensions see it
        assert result is False
        assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_instructor_edition_folds_solutions_with_their_outputs(path):
    source = _nb(path)
    inst = editions.instructor_notebook(source, path)
    sols = [c for c in inst["cells"] if editions.SOLUTION_TAG in _tags(c)]
    assert sols and all("hide-cell" in _tags(c) and "hide-input" not in _tags(c) for c in sols)
    assert [_src(c) for c in inst["cells"]] == [_src(c) for c in source["cells"]]
    assert inst["metadata"]["solarcnn"]["edition"] == "instructor"


def test_leak_detection_catches_a_left_solution_and_its_output(tmp_path):
    path = NOTEBOOKS[-1]
    source = _nb(path)
    student = editions.student_notebook(source, path)
    sol = next(c for c in source["cells"] if editions.SOLUTION_TAG in _tags(c))
    stub_i = next(i for i, c in enumerate(student["cells"]) if editions.STUB_TAG in _tags(c))
    student["cells"][stub_i]["source"] += "\n" + _src(sol)
    student["cells"][stub_i + 1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "right."}]
    problems = editions.solution_leaks(student, source)
    assert any("solution line still present" in p for p in problems)
    assert any("keeps outputs" in p for p in problems)


def test_executed_solution_outputs_are_dropped():
    path = NOTEBOOKS[0]
    source = _nb(path)
    for c in source["cells"]:
        if editions.SOLUTION_TAG in _tags(c) or editions.CHECK_TAG in _tags(c):
            c["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "SECRET RESULT 42\n"}]
            c["execution_count"] = 7
    student = editions.student_notebook(source, path)
    assert "SECRET RESULT" not in json.dumps(student)
    inst = editions.instructor_notebook(source, path)
    assert "SECRET RESULT" in json.dumps(inst)                  # the instructor edition keeps them (folded)


def test_a_solution_without_a_check_is_refused():
    path = NOTEBOOKS[1]
    source = _nb(path)
    source["cells"] = [c for c in source["cells"] if editions.CHECK_TAG not in _tags(c)]
    with pytest.raises(DataFileError, match="no 'exercise-check' cell"):
        editions.student_notebook(source, path)


def test_cli_writes_the_student_edition_and_never_the_sources(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["notebooks", "--edition", "student", str(out)]) == 0
    written = sorted(p.name for p in out.glob("*.ipynb"))
    assert written == [p.name for p in NOTEBOOKS]
    for p in NOTEBOOKS:
        assert editions.solution_leaks(_nb(out / p.name), _nb(p)) == []
    assert "student edition: 8 notebooks" in capsys.readouterr().out
    before = {p: p.read_bytes() for p in NOTEBOOKS}
    assert main(["notebooks", "--edition", "student", str(ROOT / "notebooks")]) != 0
    assert "never overwrites the sources" in capsys.readouterr().err
    assert all(p.read_bytes() == b for p, b in before.items())
