# Shared by the scripts/peers/*.sh that need one binary from one Debian package (sourced, not run: it lives in
# lib/ so that ensure-test-peers.sh's `scripts/peers/*.sh` loop does not take it for a peer).
#
# ensure_debian_peer LABEL BIN PACKAGE VERSION_ARG
#   BIN present: print "LABEL: <version line>" and return 0. Missing and running as root on Debian: apt-get update
#   + apt-get install -y PACKAGE. Still missing: print the exact command to run and exit 1 (never a silent skip).

_peer_version() {  # first line of `BIN VERSION_ARG` (stdout first: chromium prints noise on stderr; nginx and
  local v           # pdftotext print their version on stderr only)
  v=$("$1" "$2" 2>/dev/null | head -1 || true)
  [ -n "$v" ] || v=$("$1" "$2" 2>&1 | head -1 || true)
  echo "${v:-$3}"
}

ensure_debian_peer() {
  local label=$1 bin=$2 pkg=$3 varg=$4
  if [ -x "$bin" ]; then
    echo "$label: $(_peer_version "$bin" "$varg" present)"
    return 0
  fi
  if [ "$(id -u)" = "0" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  fi
  if [ ! -x "$bin" ]; then
    echo "$label missing; run: sudo apt-get update && sudo apt-get install -y $pkg" >&2
    exit 1
  fi
  echo "$label: $(_peer_version "$bin" "$varg" installed)"
}
