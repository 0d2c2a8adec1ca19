#!/usr/bin/env bash
# Installs the external test peers (programs no one here wrote) that the test suite talks to, or stops with
# the exact command to run. Never a silent skip.
set -euo pipefail
echo "test peers: none needed yet"
