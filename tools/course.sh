#!/usr/bin/env bash
# Quick start, command 1: set everything up, execute every numbered notebook in the tiny profile
# (CPU, minutes, offline data), then build the book. Prints where the HTML and the results table are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ -z "${SOLARCNN_DATA_MIRROR:-}" ] && [ -d ../shared/data ]; then
  export SOLARCNN_DATA_MIRROR=$(cd ../shared/data && pwd)
fi
.venv/bin/solarcnn run --all --profile "${PROFILE:-tiny}" --no-progress
.venv/bin/solarcnn book --run "runs/${PROFILE:-tiny}" --out build/book
echo
echo "Results table: $(pwd)/runs/${PROFILE:-tiny}/results.md"
echo "Book (HTML):   $(pwd)/build/book/_build/html/index.html"
