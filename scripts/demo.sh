#!/usr/bin/env bash
# The main job: style transfer on the bundled images with the quick preset (a few minutes on a CPU).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
nst-lab stylize --preset quick "$@"
