#!/usr/bin/env bash
# Make sure Debian's poppler-utils (pdftotext) is installed: the KPI cockpit tests (tests/monitoring/test_exports.py
# and tests/web/test_cockpit.py) read the quarterly PDF report back with pdftotext, a PDF reader no one here
# wrote. If missing and running as root on Debian: apt-get update + apt-get install -y poppler-utils.
# Otherwise print the exact command and exit 1. Never skips silently.
set -euo pipefail

. "$(dirname "$0")/lib/debian-peer.sh"
ensure_debian_peer pdftotext /usr/bin/pdftotext poppler-utils -v
