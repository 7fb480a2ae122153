#!/usr/bin/env bash
# The whole test suite in one command, on a fresh Debian/Ubuntu machine (root, or sudo):
# .venv with the dev extras, the Docker engine and the test images (.ci/bootstrap.sh), Azurite, then
# `python -m pytest` over one worker per core, with any arguments given (for example `bash tests/run.sh tests/core -x`).
# `.ci/run` calls exactly this after lint and type checks.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/.ci/bootstrap.sh" dev
bash "$REPO/.ci/setup-azurite.sh"   # Azure Storage emulator from npm, for tests/locks
cd "$REPO"
# test files are spread over one worker per core (pytest-xdist); a file's tests stay together, so a
# module's deployment is made once. `-n 0` (or SCALECTL_TEST_WORKERS=0) runs everything in one process.
exec "$REPO/.venv/bin/python" -m pytest -n "${SCALECTL_TEST_WORKERS:-auto}" --dist loadfile "$@"
