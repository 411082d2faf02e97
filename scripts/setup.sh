#!/usr/bin/env bash
# Create the repository's .venv (if missing), install nst-lab with its dev extra, and activate it.
# Sourced by demo.sh and test.sh; it leaves the caller's working folder as it was.
set -euo pipefail
NST_LAB_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(
  cd "$NST_LAB_REPO"
  PY=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv and installing nst-lab (first run only: about 3 GB, a few minutes)" >&2
    "$PY" -m venv .venv
  fi
  stamp=.venv/.nst-lab-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
  fi
)
. "$NST_LAB_REPO/.venv/bin/activate"
