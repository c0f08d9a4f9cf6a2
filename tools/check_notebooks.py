#!/usr/bin/env python3
"""Check that notebook sources store no outputs except those nbval compares (the pre-commit hook).

Usage: python3 tools/check_notebooks.py notebooks/02_slic_feature_classifier.ipynb [...]

The rule of ``tests/test_notebook_structure.py::test_sources_are_clean_except_checked_cells``
(CONTRIBUTING.md, notebook rule 7): no code cell stores an error; a cell tagged
``nbval-check-output`` stores its output and execution count; every other code cell stores
none. ``tools/store_notebook.py`` writes an executed notebook back in that form. Standard library
only, so the hook runs with any Python 3. Exit status 1 and one line per problem if any.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

CHECK_TAG = "nbval-check-output"


def problems(path: str | Path) -> list[str]:
    """The rule's violations in notebook `path`, each naming the file and the cell (empty: clean)."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{path}: not a readable notebook ({type(exc).__name__}: {exc})"]
    out = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs") or []
        tags = (cell.get("metadata") or {}).get("tags") or []
        if any(o.get("output_type") == "error" for o in outputs):
            out.append(f"{path}: cell {i} stores an error")
        if CHECK_TAG in tags:
            if cell.get("execution_count") is None or not outputs:
                out.append(f"{path}: cell {i} is tagged {CHECK_TAG} but has no stored output "
                           "(run tools/store_notebook.py on the executed copy)")
        elif outputs:
            out.append(f"{path}: cell {i} stores outputs; only {CHECK_TAG} cells may "
                       "(tools/store_notebook.py clears them)")
    return out


def main(paths: list[str]) -> int:
    found = [p for path in paths for p in problems(path)]
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
