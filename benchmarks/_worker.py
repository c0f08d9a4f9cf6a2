"""Subprocess entry: ``python -m benchmarks._worker JOB.json OUT.json``.

`benchmarks.runner` writes the job, sets ``KERAS_BACKEND`` in this process's
environment before anything imports Keras, and reads the JSON result back.
A failure of one item is recorded as ``{"error": ...}`` and does not stop the others.
"""
from __future__ import annotations

import json
import sys
import traceback


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job_path, out_path = argv
    with open(job_path) as fh:
        job = json.load(fh)
    results = []
    for item in job["items"]:
        try:
            if item["kind"] == "keras":
                from benchmarks.models import run_keras

                res = run_keras(item["model"], item["size"], steps=item["steps"], warmup=item["warmup"],
                                mixed_precision=item.get("mixed_precision", False), batch=item.get("batch"))
            elif item["kind"] == "torch":
                from benchmarks.models import run_torch

                res = run_torch(item["model"], item["size"], steps=item["steps"], warmup=item["warmup"],
                                mixed_precision=item.get("mixed_precision", False), batch=item.get("batch"))
            elif item["kind"] == "pair":
                from benchmarks.models import run_pair

                res = run_pair(item["model"], item["size"], precision=item.get("precision", "float32"),
                               pairs=item.get("pairs", 7), block=item.get("block", 2), warmup=item["warmup"],
                               batch=item.get("batch"))
            elif item["kind"] == "data":
                from benchmarks import data

                res = data.run(item["name"], quick=item.get("quick", False), workdir=item["workdir"])
            else:
                raise ValueError(f"unknown job kind {item['kind']!r}")
        except Exception as exc:  # recorded, reported in the table, never silently dropped
            res = {**item, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        results.append(res)
        with open(out_path, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
