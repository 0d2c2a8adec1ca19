#!/usr/bin/env bash
# Install the independent protocol peers the tests talk to (software no one here wrote):
#   - mbpoll (Debian, libmodbus-based Modbus master)        -> tests/plc/test_peers.py
#   - node-opcua-client (npm, pinned by package-lock.json)  -> tests/plc/test_peers.py
# Installs what is missing when it can (root on Debian, npm available); otherwise exits non-zero and prints
# the exact command to run. Never skips silently. Further peers (Chromium, PostgreSQL, ...) live in
# scripts/peers/*.sh, each run from here; each installs its peer or exits non-zero with the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
apt_updated=0
need_apt() {  # need_apt <binary> <debian package>
  local bin="$1" pkg="$2"
  command -v "$bin" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$apt_updated" = "0" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  fi
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "ensure-test-peers: '$bin' missing; run: sudo apt-get update && sudo apt-get install -y $pkg" >&2
    fail=1
  fi
}

# --- Modbus peer --------------------------------------------------------------------------------------------
need_apt mbpoll mbpoll

# --- OPC UA peer (node-opcua) -------------------------------------------------------------------------------
PEER=tests/plc/opcua_peer
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  need_apt node nodejs
  need_apt npm npm
fi
if command -v npm >/dev/null 2>&1; then
  if [ ! -d "$PEER/node_modules/node-opcua-client" ]; then
    if [ -f "$PEER/package-lock.json" ]; then
      (cd "$PEER" && npm ci --no-audit --no-fund --loglevel=error) || true
    else
      (cd "$PEER" && npm install --no-audit --no-fund --loglevel=error) || true
    fi
  fi
  if [ ! -d "$PEER/node_modules/node-opcua-client" ]; then
    echo "ensure-test-peers: node-opcua-client missing; run: (cd $PEER && npm ci)" >&2
    fail=1
  fi
else
  echo "ensure-test-peers: node/npm missing; run: sudo apt-get install -y nodejs npm && (cd $PEER && npm ci)" >&2
  fail=1
fi

# --- further peers: each scripts/peers/*.sh installs its own peer or exits non-zero with the command to run ---
for peer in scripts/peers/*.sh; do
  [ -e "$peer" ] || continue
  if ! bash "$peer"; then
    echo "ensure-test-peers: $peer failed (see its message above)" >&2
    fail=1
  fi
done

if [ "$fail" != "0" ]; then
  exit 1
fi
echo "ensure-test-peers: mbpoll $(mbpoll -V 2>/dev/null | head -1 || true), node $(node --version), node-opcua-client ok"
