#!/usr/bin/env bash
# Make sure Debian's Chromium is installed: the quarter report test (tests/quarter/test_report.py) renders the
# HTML report in it through Playwright with executable_path=/usr/bin/chromium (no `playwright install`, no
# browser download). If missing and running as root on Debian: apt-get update + apt-get install -y chromium.
# Otherwise print the exact command and exit 1. Never skips silently.
set -euo pipefail

BIN=/usr/bin/chromium
if [ -x "$BIN" ]; then
  echo "chromium: $("$BIN" --version 2>/dev/null | head -1 || echo present)"
  exit 0
fi
if [ "$(id -u)" = "0" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x "$BIN" ]; then
  echo "chromium missing; run: sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "chromium: $("$BIN" --version 2>/dev/null | head -1 || echo installed)"
