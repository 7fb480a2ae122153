#!/usr/bin/env bash
# The whole test suite in one command, on a fresh Debian/Ubuntu machine (root, or sudo):
# .venv with the dev extras, the Docker engine and the test images (.ci/bootstrap.sh), Azurite, then
# `python -m pytest` with any arguments given (for example `bash tests/run.sh tests/core -x`).
# `.ci/run` calls exactly this after lint and type checks.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/.ci/bootstrap.sh" dev
bash "$REPO/.ci/setup-azurite.sh"   # Azure Storage emulator from npm, for tests/locks
cd "$REPO"
exec "$REPO/.venv/bin/python" -m pytest "$@"
