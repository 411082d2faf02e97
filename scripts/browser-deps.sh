#!/usr/bin/env bash
# System dependency of the browser test (tests/test_browser.py): Debian's chromium.
# playwright's own browser download does not work here, so the test drives /usr/bin/chromium.
# Installs it with apt only when missing; apt-get needs root (CI runs as root).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
  echo "warning: /usr/bin/chromium is missing and apt-get needs root: the browser test will be skipped" >&2
  exit 0
fi
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; }; then
  echo "warning: apt-get could not install chromium: the browser test will be skipped" >&2
fi
