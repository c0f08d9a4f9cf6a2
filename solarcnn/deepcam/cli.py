"""``solarcnn deepcam generate | split | summarize``: prepare DeepCAM-format data; ``train``: data-parallel
training (`solarcnn.deepcam.train_multiworker`)."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("deepcam", help="DeepCAM data: synthetic samples, 80/10/10 split, stats.h5")
    sub = p.add_subparsers(dest="deepcam_command", metavar="ACTION", required=True)
    g = sub.add_parser("generate", help="write N synthetic CAM5-like samples (benchmark HDF5 layout)")
    g.add_argument("directory")
    g.add_argument("-n", type=int, default=10, help="number of samples (default 10)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--start", type=int, default=0, help="first sample index")
    g.add_argument("--size", type=int, nargs=2, default=(768, 1152), metavar=("H", "W"),
                   help="grid size (default 768 1152, the benchmark's)")
    g.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    g.set_defaults(func=_generate)
    s = sub.add_parser("split", help="split data*.h5 into train/validation/test (80/10/10, seed 12345)")
    s.add_argument("directory", help="folder of all samples")
    s.add_argument("output", help="where train/, validation/, test/ are made")
    s.add_argument("--seed", type=int, default=12345)
    s.add_argument("--link", choices=("symlink", "copy"), default="symlink")
    s.set_defaults(func=_split)
    m = sub.add_parser("summarize", help="write stats.h5 of a (train) folder")
    m.add_argument("directory", help="folder of data-*.h5 files (the train split)")
    m.add_argument("output", help="the stats.h5 to write")
    m.add_argument("--jobs", type=int, default=1, help="worker processes per rank")
    m.add_argument("--mpi", action="store_true", help="split the files over MPI ranks (mpi4py)")
    m.set_defaults(func=_summarize)
    from .train_multiworker import DESCRIPTION, add_arguments

    t = sub.add_parser("train", help="data-parallel DeepCAM training, one process per node "
                       "(what examples/slurm/*.sbatch run)", description=DESCRIPTION)
    add_arguments(t)
    t.set_defaults(func=_train)


def _generate(args) -> int:
    from ..synthetic import get

    gen = get("cam5", seed=args.seed, size=tuple(args.size))
    paths = gen.write(args.directory, args.n, start=args.start, n_jobs=args.jobs, progress=False)
    kept = len(gen.reused)
    print(f"wrote {len(paths) - kept} file(s) to {args.directory}"
          + (f", kept {kept} existing file(s) made with the same settings" if kept else ""))
    return 0


def _split(args) -> int:
    from .data import split_files

    parts = split_files(args.directory, args.output, seed=args.seed, link=args.link)
    print(", ".join(f"{k}: {len(v)}" for k, v in parts.items()))
    return 0


def _train(args) -> int:
    from .train_multiworker import run

    return run(args)


def _summarize(args) -> int:
    from .data import read_stats, summarize

    out = summarize(args.directory, args.output, n_jobs=args.jobs, use_mpi=args.mpi)
    try:
        print(f"wrote {out} (count {read_stats(out)['count']})")
    except FileNotFoundError:   # MPI ranks other than 0 do not write
        pass
    return 0
