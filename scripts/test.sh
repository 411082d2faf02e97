#!/usr/bin/env bash
# The whole test suite: unit and CLI tests, then every solution notebook under nbval (quick profile).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
bash scripts/browser-deps.sh  # chromium for tests/test_browser.py (playwright comes with the dev extra)
export MPLBACKEND=Agg
python -m pytest tests "$@"
if compgen -G "notebooks/solutions/*.ipynb" > /dev/null; then
  NST_LAB_QUICK=1 python -m pytest --nbval-lax notebooks/solutions -p no:cacheprovider "$@"
fi
