#!/usr/bin/env bash
# Set up everything the course needs, idempotently:
#   .venv        the course's Python environment (pinned by requirements/constraints.txt)
#   .venv-book   Jupyter Book 1.x, kept apart (its pins differ), created by solarcnn.course.book.ensure_env()
#   kernel       the Jupyter kernel "solarcnn" ("Python (solarcnn)"), installed into .venv
#   chromium     (apt) for the book's browser check; libopenjp2-7 (apt) for writing JPEG 2000
# Re-running it only installs what changed. PYTHON=/path/to/python3.11 picks the interpreter.
# What goes into .venv: the course (TensorFlow, Jupyter, the solar stack) and the dev tools the README's
# commands use (extra "dev"). More on request, as pyproject extras: SOLARCNN_EXTRAS=dev,jax,torch,sunpy
# (.ci/run asks for what the tests need). On a machine where nvidia-smi lists a GPU the "gpu" extra
# (TensorFlow's CUDA libraries) is added. Extras installed once stay installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${SOLARCNN_EXTRAS:-dev}
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  case ",$EXTRAS," in
    *,gpu,*) ;;
    *) EXTRAS="$EXTRAS,gpu"; echo "== nvidia-smi lists a GPU: adding the gpu extra (TensorFlow with CUDA)" ;;
  esac
fi
hash=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)
old_hash="" old_extras=""
{ read -r old_hash old_extras < .venv/.solarcnn-stamp; } 2>/dev/null || true
want=$(echo "$EXTRAS" | tr ',' '\n' | sed '/^$/d' | sort -u)
have=$(echo "$old_extras" | tr ',' '\n' | sed '/^$/d' | sort -u)
missing=$(comm -23 <(echo "$want") <(echo "$have"))
all=$(printf '%s\n%s\n' "$want" "$have" | sed '/^$/d' | sort -u | paste -sd, -)
if [ -n "${SOLARCNN_SETUP_DRY_RUN:-}" ]; then   # say what would be installed, change nothing (tests)
  if [ ! -x .venv/bin/python ] || [ "$old_hash" != "$hash" ] || [ -n "$missing" ]; then
    echo "would install extras: $all"
  else
    echo "up to date; extras: $all"
  fi
  exit 0
fi

if [ ! -x .venv/bin/python ] || [ "$old_hash" != "$hash" ] || [ -n "$missing" ]; then
  echo "== creating .venv (Python packages, pinned by requirements/constraints.txt; extras: $all)"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt -e ".[$all]"
  echo "$hash $all" > .venv/.solarcnn-stamp
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

# The course's named Jupyter kernel, inside .venv (found by .venv/bin/jupyter lab, papermill and solarcnn run;
# the user's own python3 kernel and ~/.local are left alone). Re-installing it is harmless.
echo "== Jupyter kernel 'solarcnn' (\"Python (solarcnn)\") in .venv"
.venv/bin/python -m ipykernel install --sys-prefix --name solarcnn --display-name "Python (solarcnn)" >/dev/null

echo "== book environment (.venv-book)"
.venv/bin/python -c "from solarcnn.course.book import ensure_env; ensure_env()"
