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


def _check_options(name: str, options: dict) -> None:
    """Refuse a ``-o KEY VALUE`` the generator does not take (a usage error, not a TypeError)."""
    import inspect

    from ..errors import ParameterError
    from . import _load_all
    from .base import _REGISTRY, available

    _load_all()
    if name not in _REGISTRY:
        raise ParameterError(f"no synthetic generator {name!r}; available: {sorted(available())}")
    params = inspect.signature(_REGISTRY[name].__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = sorted(k for k, p in params.items() if k not in ("self", "seed")
                   and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ParameterError(f"synthetic generator {name!r} has no option(s) {unknown}; its options are {known}")


def _generate(args) -> int:
    from ..utils import parse_value
    from .base import get

    options = {k: parse_value(v) for k, v in args.option}
    _check_options(args.name, options)
    gen = get(args.name, seed=args.seed, **options)
    paths = gen.write(args.directory, args.n, start=args.start, n_jobs=args.jobs)
    kept = len(gen.reused)
    print(f"wrote {len(paths) - kept} file(s) to {args.directory}"
          + (f", kept {kept} existing file(s) made with the same settings" if kept else ""))
    return 0
