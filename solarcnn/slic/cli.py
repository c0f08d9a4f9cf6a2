"""``solarcnn classify FILES... --model PATH``: print the Slic class and probabilities of each FITS file."""
from __future__ import annotations

import json
import sys


def _run(args) -> int:
    from pathlib import Path

    from ..errors import DataFileError

    # missing files are refused before Keras (and TensorFlow's start-up log) is loaded; a bad file raises
    # DataFileError later: `solarcnn` prints "solarcnn: error: <file>: <problem>" and exits 2
    if not Path(args.model).is_file():
        raise DataFileError(args.model, "model file not found")
    for f in args.files:
        if not Path(f).is_file():
            raise DataFileError(f, "file not found (give FITS images, .fits or .fits.gz)")
    from .classify import classify

    preds = classify(args.files, args.model, preprocessing=args.preprocessing, batch_size=args.batch_size)
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

    from ..errors import SolarCNNError

    parser = argparse.ArgumentParser(prog="solarcnn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SolarCNNError as exc:        # as the solarcnn command reports it (solarcnn.course.cli)
        print(f"solarcnn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
