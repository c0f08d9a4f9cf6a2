"""``solarcnn bench [--quick] [NAME ...]``: run the benchmark suite of the source checkout.

The suite lives in ``benchmarks/`` at the repository root (it is not part of the
installed package); this sub-command runs ``python -m benchmarks`` there with the
arguments given, so ``solarcnn bench --help`` shows the suite's own options.
"""
from __future__ import annotations

import argparse
import subprocess
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="speed benchmarks against reference implementations",
                              description="Runs `python -m benchmarks ARGS` in the source checkout.",
                              add_help=False, prefix_chars="+")   # every option goes to the suite
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for python -m benchmarks (try --help)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from ..utils import repo_root

    root = repo_root()
    if not (root / "benchmarks" / "__main__.py").exists():
        from ..errors import SolarCNNError

        raise SolarCNNError(f"solarcnn bench: no benchmarks/ folder in {root}; it needs a source checkout")
    return subprocess.call([sys.executable, "-m", "benchmarks", *args.args], cwd=root)
