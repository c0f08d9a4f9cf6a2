"""``solarcnn book``: build the course book from a run folder (and optionally check it in Chromium)."""
from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "book", help="build the Jupyter Book from executed notebooks",
        description="Stage book/ with the executed notebooks of a run folder and its results table, then build "
                    "the HTML with Jupyter Book 1 in its own environment (.venv-book, created on first use). "
                    "Sphinx warnings fail the build.")
    p.add_argument("--run", default=None, help="run folder with NN_slug.ipynb and results.md (default runs/tiny)")
    p.add_argument("--out", default=None, help="build folder (default build/book)")
    p.add_argument("--edition", choices=("instructor", "student"), default="instructor",
                   help="instructor (default): solutions folded with their outputs; student: solutions replaced "
                        "by stubs, no solution output (solarcnn.course.editions)")
    p.add_argument("--injected", choices=("show", "remove"), default="show",
                   help="papermill's injected parameters: show them as a note (default) or remove them")
    p.add_argument("--check", action="store_true",
                   help="then open the index page and one notebook page in headless Chromium and check them")
    p.add_argument("--check-all", action="store_true", help="with --check: check every page, not just two")
    p.add_argument("--screenshots", default=None, help="with --check: folder for the screenshots")
    p.add_argument("--venv", default=None, help="the book's virtual environment (default .venv-book)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from ..utils import repo_root
    from . import book

    root = repo_root("book", "requirements")
    run_dir = Path(args.run) if args.run else root / "runs" / "tiny"
    out_dir = Path(args.out) if args.out else root / "build" / ("book" if args.edition == "instructor" else
                                                                   f"book-{args.edition}")
    env = book.ensure_env(args.venv)
    index = book.build(run_dir, out_dir, env=env, injected=args.injected, edition=args.edition)
    print(f"Book ({args.edition} edition): {index}")
    if args.check:
        report = book.check_book(index, screenshot_dir=args.screenshots, all_pages=args.check_all)
        for page, facts in report.items():
            print(f"  {page}: ok — {facts['images_loaded']} image(s) shown, {facts['mathjax']} typeset math "
                  f"element(s), no error output, no failed resource")
    return 0
