#!/usr/bin/env bash
# System packages the tests and the grader need, from Debian: chromium (tests/studio/test_browser.py;
# playwright's own browser download does not work here) and bubblewrap (the sandbox of `nst-lab grade`).
# Installs only what is missing; apt-get needs root (CI runs as root).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v bwrap > /dev/null || missing+=(bubblewrap)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
  echo "warning: ${missing[*]} missing and apt-get needs root: the tests that need them will be skipped" >&2
  exit 0
fi
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null; }; then
  echo "warning: apt-get could not install ${missing[*]}: the tests that need them will be skipped" >&2
fi
