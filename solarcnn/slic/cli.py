"""``solarcnn classify FILES... --model PATH``: print the Slic class and probabilities of each FITS file."""
from __future__ import annotations

import json
import sys


def _run(args) -> int:
    from ..errors import DataFileError
    from .classify import classify

    try:
        preds = classify(args.files, args.model, preprocessing=args.preprocessing, batch_size=args.batch_size)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in preds:
        if args.json:
            print(json.dumps({"file": p.file, "class": p.label, "probabilities": p.probabilities}))
        else:
            print(p)
    return 0


def register(subparsers) -> None:
    """Add the ``classify`` sub-command to the ``solarcnn`` command."""
    p = subparsers.add_parser("classify", help="classify solar FITS images with a trained Slic model",
                              description="Print the predicted Slic class (filaments, flares, prominences, quiet, "
                                          "sunspots) and the softmax probabilities of each FITS file.")
    p.add_argument("files", nargs="+", metavar="FILES", help="FITS images (.fits or .fits.gz)")
    p.add_argument("--model", required=True, metavar="PATH", help="a trained Slic model (.keras file)")
    p.add_argument("--preprocessing", choices=("training", "original"), default="training",
                   help="'training' (default): byte-scale + bicubic as in training; 'original': the original "
                        "inference path (raw values, no byte-scaling)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_run)


def main(argv=None) -> int:
    """Stand-alone entry (``python -m solarcnn.slic.cli classify ...``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="solarcnn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
