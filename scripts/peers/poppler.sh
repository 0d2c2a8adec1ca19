#!/usr/bin/env bash
# Make sure Debian's poppler-utils (pdftotext) is installed: the KPI cockpit tests (tests/monitoring/test_exports.py
# and tests/web/test_cockpit.py) read the quarterly PDF report back with pdftotext, a PDF reader no one here
# wrote. If missing and running as root on Debian: apt-get update + apt-get install -y poppler-utils.
# Otherwise print the exact command and exit 1. Never skips silently.
set -euo pipefail

BIN=/usr/bin/pdftotext
if [ -x "$BIN" ]; then
  echo "pdftotext: $("$BIN" -v 2>&1 | head -1 || echo present)"
  exit 0
fi
if [ "$(id -u)" = "0" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
fi
if [ ! -x "$BIN" ]; then
  echo "pdftotext missing; run: sudo apt-get update && sudo apt-get install -y poppler-utils" >&2
  exit 1
fi
echo "pdftotext: $("$BIN" -v 2>&1 | head -1 || echo installed)"
