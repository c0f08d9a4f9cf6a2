"""``solarcnn bench``: the benchmark suite as a sub-command of the package CLI.

Register with ``_COMMAND_MODULES`` in ``solarcnn/cli.py`` (module path ``benchmarks.cli``).
The ``benchmarks`` package lives at the repository root (it is not installed with
``solarcnn``), so the sub-command works from a source checkout.
"""
from __future__ import annotations


def register(subparsers) -> None:
    from benchmarks.runner import build_parser, run_from_args

    p = subparsers.add_parser("bench", help="speed benchmarks vs PyTorch / sequential references")
    build_parser(p)
    p.set_defaults(func=run_from_args)
