#!/usr/bin/env bash
# Test peer: Debian's PostgreSQL server binaries (initdb, pg_ctl). The store/API tests start their own private
# server from them (h2quarters.store.pgserver.TemporaryPostgres) — no system service is started or needed.
# Installs them when running as root on Debian; otherwise prints the exact command and fails (never a silent skip).
set -euo pipefail
have_pg() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && return 0
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}
if have_pg; then
  echo "test peer postgresql: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n1 || dirname "$(command -v initdb)")"
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test peer postgresql: installing Debian package postgresql (server binaries for the store tests)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
  have_pg && exit 0
  echo "postgresql installed but initdb/pg_ctl not found" >&2
  exit 1
fi
echo "PostgreSQL server binaries (initdb, pg_ctl) are missing; the store/API tests need them. Run:" >&2
echo "    sudo apt-get install -y postgresql" >&2
exit 1
