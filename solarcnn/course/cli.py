"""The ``solarcnn`` command.

Sub-commands come from the modules in `_COMMAND_MODULES`; each defines
``register(subparsers)``, adding a parser whose ``func`` gets the parsed args
and returns an exit code. A track adds its module to the list.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .._version import __version__
from ..errors import SolarCNNError

_COMMAND_MODULES = [
    "solarcnn.course.runner",     # run
    "solarcnn.data.cli",          # data list|fetch|verify|path
    "solarcnn.course.archive_cli",  # archive check|download|verify|how (the papers' real data)
    "solarcnn.course.book_cli",   # book
    "solarcnn.course.editions",   # notebooks --edition student|instructor OUT
    "solarcnn.course.doctor",     # doctor (is this machine ready for the course?)
    "solarcnn.slic.cli",          # classify
    "solarcnn.deepcam.cli",       # deepcam generate|split|summarize
    "solarcnn.synthetic.cli",     # synthetic list|generate
    "solarcnn.course.bench_cli",  # bench (runs benchmarks/ of the source checkout)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="solarcnn", description="solarcnn: notebooks, data and tools of the course")
    parser.add_argument("--version", action="version", version=f"solarcnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):   # module not available here (e.g. benchmarks/
                continue                                  # outside a checkout): leave its command out
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SolarCNNError as exc:
        print(f"solarcnn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
