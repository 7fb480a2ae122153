#!/usr/bin/env bash
# Install Azurite (Microsoft's Azure Storage emulator, from the npm registry) for tests/locks.
#
# Idempotent: does nothing when azurite-blob is already in the cache. Installs node and npm with
# apt-get when they are missing (as root); if that is impossible it says so and exits 0 (the Azure
# blob lease tests then skip, naming the reason).
# Environment: SCALECTL_CACHE_DIR (default /var/cache/scalectl); installs into $SCALECTL_CACHE_DIR/azurite.
set -euo pipefail

CACHE_DIR="${SCALECTL_CACHE_DIR:-/var/cache/scalectl}"
PREFIX="$CACHE_DIR/azurite"
AZURITE_VERSION="${SCALECTL_AZURITE_VERSION:-3}"

log() { printf '[setup-azurite] %s\n' "$*" >&2; }

if [ -x "$PREFIX/node_modules/.bin/azurite-blob" ]; then
  log "azurite present in $PREFIX"
  exit 0
fi
if { ! command -v npm || ! command -v node; } >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  log "installing nodejs and npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2 || true
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  log "node/npm not found: the Azure blob lease tests will skip (apt-get install nodejs npm to run them)"
  exit 0
fi
mkdir -p "$PREFIX"
log "npm install azurite@$AZURITE_VERSION into $PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >&2
log "ready: $PREFIX/node_modules/.bin/azurite-blob"
