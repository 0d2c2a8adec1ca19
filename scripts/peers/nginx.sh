#!/usr/bin/env bash
# Make sure Debian's nginx is installed: tests/api/test_proxy.py puts a real nginx (loopback, own config and
# temp directory, no service) in front of `h2q serve` to check login throttling behind a reverse proxy.
# If missing and running as root on Debian: apt-get update + apt-get install -y nginx-light (the service is not
# used; the test starts its own nginx). Otherwise print the exact command and exit 1. Never skips silently.
set -euo pipefail

BIN=/usr/sbin/nginx
if [ -x "$BIN" ]; then
  echo "nginx: $("$BIN" -v 2>&1 | head -1 || echo present)"
  exit 0
fi
if [ "$(id -u)" = "0" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
if [ ! -x "$BIN" ]; then
  echo "nginx missing; run: sudo apt-get update && sudo apt-get install -y nginx-light" >&2
  exit 1
fi
echo "nginx: $("$BIN" -v 2>&1 | head -1 || echo installed)"
