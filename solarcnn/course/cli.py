"""The ``solarcnn`` command.

Sub-commands come from the modules in `_COMMAND_MODULES`; each defines
``register(subparsers)``, adding a parser whose ``func`` gets the parsed args
and returns an exit code. A track adds its module to the list, and the examples of
its ``--help`` to `EXAMPLES` (or an ``epilog`` of its own).

Conventions of every command (tested in tests/test_cli_conventions.py):

- a usage error (a bad option, value or name, an input file or folder that is missing or
  not in the expected format, an output path that is a file) prints one line
  ``solarcnn: error: …`` to stderr and exits 2; a failure (a failed notebook, download,
  disk write or verification) prints ``solarcnn: error: …`` (a failed notebook: a few
  lines) and exits 1; ``--debug`` (anywhere on the line) adds the traceback (`exit_code`);
- output into a closed pipe (``solarcnn data list | head -1``) ends quietly, exit 0;
- Ctrl-C prints ``solarcnn: interrupted`` and exits 130.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

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
    "solarcnn.deepcam.cli",       # deepcam generate|split|summarize|train
    "solarcnn.synthetic.cli",     # synthetic list|generate
    "solarcnn.course.bench_cli",  # bench (runs benchmarks/ of the source checkout)
]


# `solarcnn CMD [ACTION] --help` ends with these examples (a parser's own epilog wins).
EXAMPLES = {
    "solarcnn": ["solarcnn run 00 01", "solarcnn data fetch --all", "solarcnn book --run runs/tiny",
                 "solarcnn COMMAND --help"],
    "solarcnn run": ["solarcnn run 02 -p epochs 3          # one notebook, a parameter changed",
                     "solarcnn run --all --no-progress     # every notebook (what tools/course.sh runs)",
                     "solarcnn run 05 --profile full --run-dir runs/gpu"],
    "solarcnn data": ["solarcnn data list", "solarcnn data fetch --all", "solarcnn data verify wsiseg"],
    "solarcnn data list": ["solarcnn data list", "solarcnn data list --kind derived"],
    "solarcnn data fetch": ["solarcnn data fetch --all                # every real data set, e.g. before a workshop",
                            "solarcnn data fetch wsiseg",
                            "solarcnn data fetch goes_flares noaa_srs      # one folder of a set",
                            "SOLARCNN_DATA_MIRROR=path/to/mirror solarcnn data fetch --all --no-progress"],
    "solarcnn data verify": ["solarcnn data verify --all", "solarcnn data verify wsiseg -q"],
    "solarcnn data path": ["solarcnn data path wsiseg", "solarcnn data path solar_images"],
    "solarcnn data build": ["solarcnn data build synthetic_cam5", "solarcnn data build synthetic_sot --out out/sot"],
    "solarcnn archive": ["solarcnn archive how flare", "solarcnn archive check cirrus data/cirrus"],
    "solarcnn archive check": ["solarcnn archive check slic data/slic",
                               "solarcnn archive check cirrus data/cirrus --task segmentation"],
    "solarcnn archive download": ["solarcnn archive download flare data/flare --start 2012-01-01 --end 2012-02-01"],
    "solarcnn archive verify": ["solarcnn archive verify data/flare"],
    "solarcnn archive how": ["solarcnn archive how deepcam"],
    "solarcnn book": ["solarcnn book                                # runs/tiny -> build/book",
                      "solarcnn book --run runs/tiny --check",
                      "solarcnn book --edition student"],
    "solarcnn notebooks": ["solarcnn notebooks --edition student out/student-notebooks"],
    "solarcnn doctor": ["solarcnn doctor", "solarcnn doctor --offline   # before a classroom without internet"],
    "solarcnn classify": ["solarcnn classify --model runs/tiny/work/02_slic_feature_classifier/slic_final.keras "
                          "image.fits"],
    "solarcnn deepcam": ["solarcnn deepcam generate data/all -n 20 --size 96 144",
                         "solarcnn deepcam split data/all data/split"],
    "solarcnn deepcam generate": ["solarcnn deepcam generate data/all -n 20 --size 96 144 --jobs 2"],
    "solarcnn deepcam split": ["solarcnn deepcam split data/all data/split --link copy"],
    "solarcnn deepcam summarize": ["solarcnn deepcam summarize data/split/train data/split/stats.h5"],
    "solarcnn deepcam train": ["solarcnn deepcam train data/split --epochs 2 --global-batch 8 "
                               "--checkpoint-dir ckpt   # one process; resumes from ckpt"],
    "solarcnn synthetic": ["solarcnn synthetic list", "solarcnn synthetic generate cam5 out/cam5 -n 4"],
    "solarcnn synthetic list": ["solarcnn synthetic list"],
    "solarcnn synthetic generate": ["solarcnn synthetic generate cam5 out/cam5 -n 4 --seed 1",
                                    "solarcnn synthetic generate cam5 out/cam5 -n 4 -o size '[96, 144]'"],
    "solarcnn bench": ["solarcnn bench --list", "solarcnn bench --quick"],
}


class CLIParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors are one line, ``solarcnn: error: …``, exit 2."""

    def error(self, message: str):
        self.exit(2, f"solarcnn: error: {message} (see: {self.prog} --help)\n")


class _Formatter(argparse.HelpFormatter):
    """Wraps prose; keeps lines that start with a space (the examples) as they are."""

    def _fill_text(self, text, width, indent):
        lines = []
        for line in text.splitlines():
            keep = not line.strip() or line.startswith(" ")
            lines.append(indent + line if keep else super()._fill_text(line, width, indent))
        return "\n".join(lines)


def _parsers(parser: argparse.ArgumentParser):
    """`parser` and every sub-command parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):   # aliases share a parser
                yield from _parsers(sub)


def _add_examples(parser: argparse.ArgumentParser) -> None:
    for p in _parsers(parser):
        p.formatter_class = _Formatter
        if not p.epilog and p.prog in EXAMPLES:
            p.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[p.prog])


def build_parser() -> argparse.ArgumentParser:
    parser = CLIParser(prog="solarcnn", description="solarcnn: notebooks, data and tools of the course")
    parser.add_argument("--version", action="version", version=f"solarcnn {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (anywhere on the command line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):   # module not available here (e.g. benchmarks/
                continue                                  # outside a checkout): leave its command out
            raise
        module.register(sub)
    _add_examples(parser)
    return parser


def exit_code(exc: BaseException) -> int:
    """2 for a usage error, 1 for a failure.

    Usage errors: the input the command was given is refused before work is done — a bad option,
    parameter or value, an unknown name, a file or folder argument that is missing, of the wrong
    kind or not in the expected format (the package's errors: `SolarCNNError`, and `ValueError`,
    `TypeError`, `KeyError` of argument checks). Failures: the work itself went wrong — a notebook
    failed (`NotebookExecutionError`), the disk or the network failed (`OSError`), anything unexpected.
    """
    from .runner import NotebookExecutionError

    if isinstance(exc, NotebookExecutionError):
        return 1
    if isinstance(exc, (SolarCNNError, KeyError, TypeError, ValueError)):
        return 2
    return 1


def error_message(exc: BaseException) -> str:
    """The one-line (for a failed notebook: few-line) text of `exc`."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        text = exc.args[0]
    else:
        text = str(exc)
    if not isinstance(exc, (SolarCNNError, ValueError, TypeError, KeyError, OSError)):
        text = f"{type(exc).__name__}: {text} (unexpected; run with --debug for the traceback)"
    return text or type(exc).__name__


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (``| head``): stop quietly, and keep Python's exit flush quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    if debug:
        argv.remove("--debug")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("solarcnn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(f"solarcnn: error: {error_message(exc)}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
