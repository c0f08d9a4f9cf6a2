"""``solarcnn synthetic list | generate NAME DIR -n N``."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("synthetic", help="list or run the synthetic-data generators")
    sub = p.add_subparsers(dest="synthetic_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="the registered generators").set_defaults(func=_list)
    g = sub.add_parser("generate", help="write N samples of a generator into a folder")
    g.add_argument("name")
    g.add_argument("directory")
    g.add_argument("-n", type=int, default=10, help="number of samples (default 10)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--start", type=int, default=0, help="first sample index")
    g.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    g.add_argument("-o", "--option", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="generator option (repeatable), VALUE parsed as YAML")
    g.set_defaults(func=_generate)


def _list(args) -> int:
    from .base import available

    for name, doc in available().items():
        print(f"{name:<16} {doc}")
    return 0


def _generate(args) -> int:
    from ..utils import parse_value
    from .base import get

    gen = get(args.name, seed=args.seed, **{k: parse_value(v) for k, v in args.option})
    paths = gen.write(args.directory, args.n, start=args.start, n_jobs=args.jobs)
    kept = len(gen.reused)
    print(f"wrote {len(paths) - kept} file(s) to {args.directory}"
          + (f", kept {kept} existing file(s) made with the same settings" if kept else ""))
    return 0
