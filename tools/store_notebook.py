#!/usr/bin/env python
"""Write an executed notebook back to ``notebooks/`` as a clean source.

Usage: python tools/store_notebook.py runs/tiny/02_slic_feature_classifier.ipynb [...]

Keeps the outputs (and execution counts) of cells tagged ``nbval-check-output``
— nbval compares those on every test run — and clears every other output,
papermill's injected-parameters cell and run metadata. Sources stay clean;
outputs are build products (see CONTRIBUTING.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

CHECK_TAG = "nbval-check-output"
ROOT = Path(__file__).resolve().parent.parent


def clean(nb):
    cells = []
    count = 0
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            continue
        for key in ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            if CHECK_TAG in tags:
                count += 1
                cell.execution_count = count
                # stderr is volatile (framework log lines): never store it
                cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream"
                                                                and o.get("name") == "stderr")]
                for o in cell.outputs:
                    if "execution_count" in o:
                        o["execution_count"] = count
                    o.get("metadata", {}).pop("papermill", None)
            else:
                cell.execution_count = None
                cell.outputs = []
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    # the course's named kernel (tests/test_notebook_structure.py::test_house_rules; solarcnn.course.runner)
    nb.metadata["kernelspec"] = {"display_name": "Python (solarcnn)", "language": "python", "name": "solarcnn"}
    return nb


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for p in paths:
        src = Path(p)
        nb = nbformat.read(src, as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            print(f"{src}: holds {len(errors)} error output(s); fix the notebook first", file=sys.stderr)
            return 1
        dest = ROOT / "notebooks" / src.name
        nbformat.write(clean(nb), dest)
        print(f"stored {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
