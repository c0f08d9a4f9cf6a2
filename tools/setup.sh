#!/usr/bin/env bash
# Set up everything the course needs, idempotently:
#   .venv        the course's Python environment (pinned by requirements/constraints.txt)
#   .venv-book   Jupyter Book 1.x, kept apart (its pins differ), created by solarcnn.book.ensure_env()
#   chromium     (apt) for the book's browser check; libopenjp2-7 (apt) for writing JPEG 2000
# Re-running it only installs what changed. PYTHON=/path/to/python3.11 picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${SOLARCNN_EXTRAS:-dev,jax,torch}
stamp=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)-$EXTRAS

if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.solarcnn-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "== creating .venv (Python packages, pinned by requirements/constraints.txt)"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt -e ".[$EXTRAS]"
  echo "$stamp" > .venv/.solarcnn-stamp
else
  echo "== .venv is up to date"
fi

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
ldconfig -p 2>/dev/null | grep -q libopenjp2 || need_apt+=(libopenjp2-7)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  if [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; then
    echo "== apt-get install ${need_apt[*]}"
    $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: cannot install ${need_apt[*]} (not root, no sudo): the book's browser check will fail" >&2
  fi
fi

echo "== book environment (.venv-book)"
.venv/bin/python -c "from solarcnn.book import ensure_env; ensure_env()"
