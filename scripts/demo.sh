#!/usr/bin/env bash
# The main job: style transfer on the bundled images with the quick preset (under a minute of
# training on a 2-core CPU). Runs in the caller's folder: relative image paths and -o are the
# caller's, and the run folder (default ./runs/run-NNN) is printed at the end.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
nst-lab stylize --preset quick "$@"
