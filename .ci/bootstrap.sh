#!/usr/bin/env bash
# Everything a fresh Debian/Ubuntu machine needs before scalectl runs on local Docker:
#   1. python3 and python3-venv (apt) when `python3 -m venv` cannot work
#   2. .venv at the repository root with `pip install -e .[EXTRAS]` (default: docker)
#   3. the Docker engine and the locally built images (.ci/setup-docker.sh)
# Usage: bash .ci/bootstrap.sh [EXTRAS]. Idempotent: a second run takes a few seconds, because
# the install is skipped while pyproject.toml and the extras are unchanged (a stamp in .venv/).
# Called by examples/quickstart/run.sh and tests/run.sh; root, or a user with sudo.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${1:-docker}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
log() { printf '[bootstrap] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x "$REPO/.venv/bin/python" ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  log "installing python3 and python3-venv (Debian ships venv without ensurepip)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi
if [ ! -x "$REPO/.venv/bin/python" ]; then
  log "creating $REPO/.venv"
  python3 -m venv "$REPO/.venv"
fi
stamp="$REPO/.venv/.scalectl-$EXTRAS-$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
if [ -f "$stamp" ]; then
  log "scalectl[$EXTRAS] already installed in .venv"
else
  log "pip install -e '.[$EXTRAS]' (about a minute for docker, several for dev)"
  "$REPO/.venv/bin/pip" install -q --upgrade pip
  "$REPO/.venv/bin/pip" install -q -e "$REPO[$EXTRAS]"
  touch "$stamp"
fi

bash "$REPO/.ci/setup-docker.sh"
