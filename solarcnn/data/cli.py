"""``solarcnn data list | fetch NAME | verify NAME | path NAME | build NAME``.

`fetch` and `verify` (one set, or every real set with ``--all``) show a progress bar
per data set on a terminal (``--no-progress``, or stdout not a terminal: one status
line per file instead), print failures and a summary line per set, and exit 1 when
any file fails; the errors say which file and what is wrong.
"""
from __future__ import annotations

import contextlib
import os
import sys


def register(subparsers) -> None:
    """Add the ``data`` sub-command to the ``solarcnn`` parser."""
    p = subparsers.add_parser("data", help="the data registry: list, fetch, verify and locate data sets",
                              description="Data sets come from their public origin, or from $SOLARCNN_DATA_MIRROR "
                                          "when set, into the cache $SOLARCNN_CACHE.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    lp = sub.add_parser("list", help="the known data sets (real and derived)")
    lp.add_argument("--kind", choices=["all", "files", "derived"], default="all")
    lp.set_defaults(func=_list)
    fp = sub.add_parser("fetch", help="download/copy a data set (or one file, or --all) into the cache, verified")
    fp.add_argument("name", nargs="?", default=None, help="the data set (see `solarcnn data list`)")
    fp.add_argument("relpath", nargs="?", default=None, help="one file or folder of the set (default: all)")
    fp.add_argument("--all", action="store_true", help="every real data set (derived sets are built on use)")
    fp.add_argument("--quiet", "-q", action="store_true", help="print failures and the summary only")
    fp.add_argument("--no-progress", action="store_true", help="no progress bars (also when stdout is not a terminal)")
    fp.set_defaults(func=_fetch)
    vp = sub.add_parser("verify", help="check the cached files' sizes and SHA-256 (fetches nothing)")
    vp.add_argument("name", nargs="?", default=None, help="the data set (see `solarcnn data list`)")
    vp.add_argument("relpath", nargs="?", default=None)
    vp.add_argument("--all", action="store_true", help="every real data set")
    vp.add_argument("--quiet", "-q", action="store_true", help="print failures and the summary only")
    vp.add_argument("--no-progress", action="store_true", help="no progress bars (also when stdout is not a terminal)")
    vp.set_defaults(func=_verify)
    pp = sub.add_parser("path", help="print where a data set (or file) is in the cache")
    pp.add_argument("name")
    pp.add_argument("relpath", nargs="?", default=None)
    pp.set_defaults(func=_path)
    bp = sub.add_parser("build", help="build a derived (synthetic) data set with its generator")
    bp.add_argument("name")
    bp.add_argument("--out", default=None, help="output folder (default: the cache)")
    bp.set_defaults(func=_build)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _list(args) -> int:
    from . import cache_dir, list_datasets, manifest, mirror_dir

    for name in list_datasets(kind=args.kind):
        m = manifest(name)
        if m.is_derived:
            what = f"derived: generator {m.derived['generator']!r}; build: {m.derived['command']}"
        else:
            what = f"{len(m.files)} files, {_mb(m.total_size)}"
        first = m.description.strip().split(". ")[0]
        print(f"{name:<24} {what}\n{'':<24} {first[:100]}")
    mirror = mirror_dir()
    print(f"\ncache: {cache_dir()}   source: {'mirror ' + str(mirror) if mirror else 'public URLs (network)'}")
    print("\nThe papers' full data sets, in the original projects' layouts: 'solarcnn archive how TRACK'. Flare (HMI "
          "from Helioviewer) and DeepCAM (climseg-data-small) download with 'solarcnn archive download'; Slic and "
          "CIRRUS have no public bulk download: assemble the folder as 'solarcnn archive how slic|cirrus' says.")
    return 0


def _names(args) -> list[str]:
    """The data sets a fetch/verify names: one (NAME), or every real one (--all)."""
    from ..errors import ParameterError
    from . import list_datasets

    if args.all == bool(args.name):
        raise ParameterError(f"name a data set, or --all (not both); e.g. `solarcnn data {args.data_command} wsiseg`")
    if args.all and args.relpath:
        raise ParameterError("a file or folder of a set (RELPATH) goes with one data set, not with --all")
    return list_datasets(kind="files") if args.all else [args.name]


def _progress_on(args) -> bool:
    """Progress bars: on a terminal, unless --no-progress."""
    try:
        return not args.no_progress and sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _bar(total: int, desc: str, on: bool):
    """A progress bar on the terminal (stderr) when `on`; a disabled one otherwise."""
    import shutil

    from tqdm.auto import tqdm

    if not on:
        with tqdm(total=total, disable=True) as bar:
            yield bar
        return
    # its own stream on the terminal's stderr (tqdm drew nothing through sys.stderr on some terminals), and
    # the terminal's width (80 where it reports none, as a fresh pseudo-terminal does)
    with os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1) as stream:
        with tqdm(total=total, desc=desc, unit="file", file=stream, leave=False,
                  ncols=shutil.get_terminal_size().columns, mininterval=0.2) as bar:
            yield bar


def _fetch(args) -> int:
    from . import fetch, iter_fetch, manifest
    from .registry import _select

    progress = _progress_on(args)
    failed = 0
    for name in _names(args):
        m = manifest(name)
        if m.is_derived:
            print(fetch(name, args.relpath, build=True))
            continue
        counts: dict[str, int] = {}
        with _bar(len(_select(m, args.relpath)[0]), name, progress) as bar:
            for rel, how, err in iter_fetch(name, args.relpath, progress=progress):
                counts[how] = counts.get(how, 0) + 1
                bar.update(1)
                if err is not None:
                    failed += 1
                    bar.write(f"FAILED  {rel}: {err}", file=sys.stderr)
                elif not args.quiet and not progress:
                    print(f"{how:<8}{rel}")
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        print(f"{name}: {summary}")
    if failed:
        print(f"solarcnn: error: {failed} file(s) could not be fetched (listed above)", file=sys.stderr)
    return 1 if failed else 0


def _verify(args) -> int:
    from . import manifest, verify
    from .registry import _select

    progress = _progress_on(args)
    bad = 0
    for name in _names(args):
        m = manifest(name)
        if m.is_derived:
            verify(name, args.relpath)               # raises: derived sets have no checksums
        entries = _select(m, args.relpath)[0]
        with _bar(len(entries), name, progress) as bar:
            failed_here = 0
            for entry in entries:                    # one by one, for the bar
                st = verify(name, entry.path)[0]
                bar.update(1)
                if not st.ok:
                    failed_here += 1
                    bar.write(f"{st.status.upper():<18}{st.message}", file=sys.stderr)
                elif not args.quiet and not progress:
                    print(f"{'ok':<18}{st.path}")
        bad += failed_here
        print(f"{name}: {'all files ok' if not failed_here else f'{failed_here} file(s) failed'}")
    if bad:
        print(f"solarcnn: error: {bad} file(s) failed the check (listed above); "
              f"`solarcnn data fetch NAME` fetches them again", file=sys.stderr)
    return 1 if bad else 0


def _path(args) -> int:
    from . import path

    print(path(args.name, args.relpath))
    return 0


def _build(args) -> int:
    from . import build_derived

    print(build_derived(args.name, args.out))
    return 0
