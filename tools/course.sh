#!/usr/bin/env bash
# Quick start, command 1: set everything up, execute every numbered notebook in the tiny profile
# (CPU, minutes, offline data), then build the book. Prints one line per notebook (its time and headline
# metric) and where the HTML and the results table are; the output of the set-up, of the frameworks in the
# notebooks' kernels and of the book build goes to setup.log, run.log and book.log in the run folder.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="runs/${PROFILE:-tiny}"
mkdir -p "$RUN"
if ! bash tools/setup.sh > "$RUN/setup.log" 2>&1; then
  echo "solarcnn: error: the set-up failed; see $(pwd)/$RUN/setup.log" >&2
  tail -n 5 "$RUN/setup.log" >&2
  exit 1
fi
if [ -z "${SOLARCNN_DATA_MIRROR:-}" ] && [ -d ../shared/data ]; then
  export SOLARCNN_DATA_MIRROR=$(cd ../shared/data && pwd)
fi
.venv/bin/solarcnn run --all --profile "${PROFILE:-tiny}" --no-progress --run-dir "$RUN"
if ! .venv/bin/solarcnn book --run "$RUN" --out build/book > "$RUN/book.log" 2>&1; then
  echo "solarcnn: error: the book build failed; see $(pwd)/$RUN/book.log" >&2
  tail -n 5 "$RUN/book.log" >&2
  exit 1
fi
echo "Book (HTML):        $(pwd)/build/book/_build/html/index.html"
