#!/usr/bin/env bash
# Make sure Debian's Chromium is installed: the quarter report test (tests/quarter/test_report.py) renders the
# HTML report in it through Playwright with executable_path=/usr/bin/chromium (no `playwright install`, no
# browser download). If missing and running as root on Debian: apt-get update + apt-get install -y chromium.
# Otherwise print the exact command and exit 1. Never skips silently.
set -euo pipefail

. "$(dirname "$0")/lib/debian-peer.sh"
ensure_debian_peer chromium /usr/bin/chromium chromium --version
