#!/usr/bin/env bash
# The whole test suite: unit and CLI tests, then every solution notebook under nbval (quick profile).
# Installs what it needs: .venv with the dev extra, Debian's chromium and bubblewrap (apt-get, as root).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$NST_LAB_REPO"
bash scripts/system-deps.sh  # chromium (browser test) and bubblewrap (the grader's sandbox)
export MPLBACKEND=Agg
NST_LAB_RUNS="$(mktemp -d)"  # the notebooks' run folders: removed at the end, nothing left in the repo
export NST_LAB_RUNS
trap 'rm -rf "$NST_LAB_RUNS"' EXIT
python -m pytest tests "$@"
if compgen -G "notebooks/solutions/*.ipynb" > /dev/null; then
  NST_LAB_QUICK=1 python -m pytest --nbval-lax notebooks/solutions -p no:cacheprovider "$@"
fi
