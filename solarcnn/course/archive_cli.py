"""``solarcnn archive check | download | verify | how``: the papers' real data in the originals' layouts.

- ``check TRACK FOLDER``: validate a folder with the track's reader and say what it holds;
- ``download flare OUT --start ... --end ...``: HMI magnetograms from Helioviewer (hourly), 512 px JPEG;
- ``download deepcam OUT -n N``: N files per split of the public small DeepCAM set, and its stats.h5;
- ``download slic|cirrus``: says there is no public bulk download and how to assemble the folder;
- ``verify FOLDER``: compare a downloaded folder with its SHA-256 index;
- ``how TRACK``: the layout each reader expects.
"""
from __future__ import annotations

import importlib
import sys

TRACKS = ("slic", "cirrus", "deepcam", "flare")


def _layout(track: str) -> str:
    return importlib.import_module(f"solarcnn.{track}.archive").LAYOUT


def register(subparsers) -> None:
    p = subparsers.add_parser("archive", help="real data of the four papers: check a folder, download, verify",
                              description="Readers and downloads of the original projects' data layouts. Flare "
                                          "(Helioviewer) and DeepCAM (NERSC) download; Slic and CIRRUS need a "
                                          "folder you assemble (solarcnn archive how slic).")
    sub = p.add_subparsers(dest="archive_command", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="validate a folder in a track's original layout and describe it")
    c.add_argument("track", choices=TRACKS)
    c.add_argument("folder")
    c.add_argument("--task", choices=("classification", "segmentation"), default=None,
                   help="CIRRUS only (default: classification when clear/ or cloudy/ exist)")
    c.add_argument("--split-dir", default=None, help="DeepCAM only: where the split links and stats.h5 go")
    c.set_defaults(func=_check)
    d = sub.add_parser("download", help="download a track's public data into its original layout")
    d.add_argument("track", choices=TRACKS)
    d.add_argument("out", nargs="?", default=None, help="destination folder")
    d.add_argument("--start", help="flare: first request time (UTC), e.g. 2011-01-01")
    d.add_argument("--end", help="flare: last request time (UTC, inclusive), e.g. 2011-01-31T23:00")
    d.add_argument("--cadence", type=int, default=60, help="flare: minutes between requests (default 60)")
    d.add_argument("--keep-jp2", action="store_true", help="flare: keep the JPEG 2000 files")
    d.add_argument("-n", type=int, default=None, help="deepcam: sample files per split folder")
    d.add_argument("--splits", nargs="+", default=["train", "validation", "test"], help="deepcam: split folders")
    d.add_argument("--url", default=None, help="the server (default: the public one)")
    d.add_argument("--rate", type=float, default=1.0, help="seconds between requests (default 1)")
    d.add_argument("--retries", type=int, default=4)
    d.set_defaults(func=_download)
    v = sub.add_parser("verify", help="compare a downloaded folder's files with its SHA-256 index")
    v.add_argument("folder")
    v.set_defaults(func=_verify)
    h = sub.add_parser("how", help="the layout a track's reader expects and where the data come from")
    h.add_argument("track", choices=TRACKS)
    h.set_defaults(func=_how)


def _check(args) -> int:
    mod = importlib.import_module(f"solarcnn.{args.track}.archive")
    kwargs = {}
    if args.track == "cirrus":
        kwargs["task"] = args.task
    if args.track == "deepcam":
        kwargs["split_dir"] = args.split_dir
    print(mod.open_archive(args.folder, **kwargs).describe())
    return 0


def _download(args) -> int:
    from ..data.archive import ASSEMBLE
    from ..errors import ParameterError

    if args.track in ASSEMBLE:
        raise ParameterError(f"archive download {args.track}: {ASSEMBLE[args.track]}")
    if args.out is None:
        raise ParameterError(f"archive download {args.track}: give the destination folder")
    common = {"min_interval": args.rate, "retries": args.retries}
    if args.track == "flare":
        from ..flare.archive import download_hmi
        from ..flare.helioviewer import API

        if not (args.start and args.end):
            raise ParameterError("archive download flare: give --start and --end (UTC), e.g. --start 2011-01-01 "
                                 "--end 2011-01-31T23:00")
        report = download_hmi(args.out, args.start, args.end, cadence_minutes=args.cadence,
                              base_url=args.url or API, keep_jp2=args.keep_jp2, **common)
    else:
        from ..deepcam.archive import SMALL_URL, download_small

        if not args.n:
            raise ParameterError("archive download deepcam: give -n N (sample files per split folder; each is "
                                 "about 64 MB)")
        report = download_small(args.out, args.n, base_url=args.url or SMALL_URL, splits=tuple(args.splits),
                                **common)
    print(report)
    return 0


def _verify(args) -> int:
    from ..data.resumable import Downloader

    dl = Downloader(args.folder)
    files = dl.index()
    problems = dl.verify()
    for rel, why in problems.items():
        print(f"CORRUPT {rel}: {why}", file=sys.stderr)
    print(f"{args.folder}: {len(files) - len(problems)} of {len(files)} indexed file(s) intact")
    return 1 if problems else 0


def _how(args) -> int:
    from ..data.archive import ASSEMBLE

    print(f"{args.track}: {_layout(args.track)}")
    if args.track in ASSEMBLE:
        print(ASSEMBLE[args.track])
    elif args.track == "flare":
        print("download: solarcnn archive download flare DATA --start 2011-01-01 --end 2011-12-31T23:00 "
              "(Helioviewer, hourly, 512x512 8-bit JPEG)")
    else:
        print("download: solarcnn archive download deepcam DATA -n 10 (the public climseg-data-small copy at NERSC)")
    return 0
