#!/usr/bin/env bash
# Quick start, command 2 (what CI runs): set up if needed, then the whole test suite — unit tests, every
# notebook executed once under nbval in the tiny profile, and the book built from those executed notebooks
# and checked in headless Chromium. Extra arguments go to pytest (e.g. -k slic, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
rc=0
.venv/bin/python -m pytest tests notebooks -p no:cacheprovider -rfEs \
  --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 1500 \
  "$@" || rc=$?
if [ "$rc" = 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi
exit "$rc"
