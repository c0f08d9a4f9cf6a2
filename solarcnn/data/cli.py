"""``solarcnn data list | fetch NAME | verify NAME | path NAME | build NAME``.

`fetch` and `verify` print one status line per file and exit non-zero when any
file fails; the errors say which file and what is wrong.
"""
from __future__ import annotations

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
    fp = sub.add_parser("fetch", help="download/copy a data set (or one file) into the cache, verified")
    fp.add_argument("name")
    fp.add_argument("relpath", nargs="?", default=None, help="one file or folder of the set (default: all)")
    fp.add_argument("--quiet", "-q", action="store_true", help="print failures and the summary only")
    fp.set_defaults(func=_fetch)
    vp = sub.add_parser("verify", help="check the cached files' sizes and SHA-256 (fetches nothing)")
    vp.add_argument("name")
    vp.add_argument("relpath", nargs="?", default=None)
    vp.add_argument("--quiet", "-q", action="store_true")
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


def _fetch(args) -> int:
    from . import iter_fetch, manifest

    if manifest(args.name).is_derived:
        from . import fetch

        print(fetch(args.name, args.relpath, build=True))
        return 0
    counts: dict[str, int] = {}
    failed = 0
    for rel, how, err in iter_fetch(args.name, args.relpath):
        counts[how] = counts.get(how, 0) + 1
        if err is not None:
            failed += 1
            print(f"FAILED  {rel}: {err}", file=sys.stderr)
        elif not args.quiet:
            print(f"{how:<8}{rel}")
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"{args.name}: {summary}")
    return 1 if failed else 0


def _verify(args) -> int:
    from . import verify

    bad = 0
    for st in verify(args.name, args.relpath):
        if not st.ok:
            bad += 1
            print(f"{st.status.upper():<18}{st.message}", file=sys.stderr)
        elif not args.quiet:
            print(f"{'ok':<18}{st.path}")
    print(f"{args.name}: {'all files ok' if not bad else f'{bad} file(s) failed'}")
    return 1 if bad else 0


def _path(args) -> int:
    from . import path

    print(path(args.name, args.relpath))
    return 0


def _build(args) -> int:
    from . import build_derived

    print(build_derived(args.name, args.out))
    return 0
