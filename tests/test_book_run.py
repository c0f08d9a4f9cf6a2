"""The book of the run this test session executed (ordered after the notebooks by conftest.py).

nbval executes every notebook once; conftest.py saves those executed copies in
``runs/test/``. Here the results table is written from the metrics they recorded,
the book is built from them with Jupyter Book 1 and opened in headless Chromium.
"""
import json
import re
from pathlib import Path

import pytest

from solarcnn.course import book, editions
from solarcnn.results import collect, write_table
from solarcnn.course.runner import list_notebooks

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.after_notebooks
def test_book_renders_the_executed_notebooks(test_run_dir, executed_notebooks, tmp_path):
    expected = [p.stem for p in list_notebooks()]
    if not executed_notebooks:
        pytest.skip("the notebooks were not part of this session; run tools/test.sh (pytest tests notebooks ...)")
    unfinished = [n for n in expected if not executed_notebooks.get(n)]
    assert not unfinished, f"notebooks that did not run to the end in this session: {unfinished}"

    durations = json.loads((test_run_dir / "durations.json").read_text())
    rows = collect(test_run_dir / "metrics", {k: v for k, v in durations.items() if k in expected})
    assert {r["notebook"] for r in rows} >= set(expected), "every notebook records at least one metric"
    write_table(rows, test_run_dir, header="# Results of the tested run (tiny profile)\n")

    index = book.build(test_run_dir, ROOT / "build" / "book-test")
    html = index.read_text(encoding="utf-8")
    positions = [html.find(f'href="{n}.html"') for n in expected]
    assert all(p > 0 for p in positions), f"table of contents lacks {[n for n, p in zip(expected, positions) if p < 0]}"
    assert positions == sorted(positions), "table of contents must follow the notebook numbers"

    report = book.check_book(index, screenshot_dir=ROOT / "build" / "book-test" / "screenshots")
    assert report["index"]["title"]
    notebook_pages = [k for k in report if k != "index"]
    assert notebook_pages and report[notebook_pages[0]]["images"], "a notebook page with a figure rendered"
    results_page = index.parent / "results.html"
    assert re.search(r"wall_time", results_page.read_text(encoding="utf-8")), "the results table is in the book"
    bench_page = index.parent / "benchmarks.html"
    assert "Keras backend vs plain PyTorch" in bench_page.read_text(encoding="utf-8"), \
        "the benchmark page is in the book"


@pytest.mark.after_notebooks
def test_student_edition_of_the_executed_notebooks_holds_no_solution(test_run_dir, executed_notebooks):
    """The student edition of the same run, staged (the HTML build of an edition is tested in test_book.py)."""
    expected = [p.stem for p in list_notebooks()]
    if not executed_notebooks:
        pytest.skip("the notebooks were not part of this session; run tools/test.sh (pytest tests notebooks ...)")
    src = book.stage(test_run_dir, ROOT / "build" / "book-test-student", edition="student")
    for name in expected:
        executed = json.loads((test_run_dir / f"{name}.ipynb").read_text(encoding="utf-8"))
        student = json.loads((src / f"{name}.ipynb").read_text(encoding="utf-8"))
        assert editions.solution_leaks(student, executed) == [], name
        assert any("exercise-stub" in c["metadata"].get("tags", []) for c in student["cells"]), name


@pytest.mark.after_notebooks
def test_every_lesson_headline_has_an_interval_and_a_baseline(test_run_dir, executed_notebooks):
    """Issue 15 items 2-3: the headline metric of every lesson that trains or measures something (01-07; 00 only
    checks files) is recorded with its interval and its baseline on the same samples."""
    from solarcnn.results import headline_metric

    if not executed_notebooks:
        pytest.skip("the notebooks were not part of this session; run tools/test.sh (pytest tests notebooks ...)")
    missing = {}
    for path in list_notebooks():
        if path.stem.startswith("00_"):
            continue
        metrics = json.loads((test_run_dir / "metrics" / f"{path.stem}.json").read_text())
        name, entry = headline_metric(metrics)
        lacks = [k for k in (f"{name}_ci_low", f"{name}_ci_high", f"baseline_{name}") if k not in metrics]
        if lacks:
            missing[path.stem] = lacks
        else:
            assert metrics[f"{name}_ci_low"]["value"] <= metrics[f"{name}_ci_high"]["value"], path.stem
    assert not missing, f"headline metrics without interval or baseline: {missing}"
