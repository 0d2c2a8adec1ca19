#!/usr/bin/env bash
# Make sure Debian's nginx is installed: tests/api/test_proxy.py puts a real nginx (loopback, own config and
# temp directory, no service) in front of `h2q serve` to check login throttling behind a reverse proxy.
# If missing and running as root on Debian: apt-get update + apt-get install -y nginx-light (the service is not
# used; the test starts its own nginx). Otherwise print the exact command and exit 1. Never skips silently.
set -euo pipefail

. "$(dirname "$0")/lib/debian-peer.sh"
ensure_debian_peer nginx /usr/sbin/nginx nginx-light -v
