#!/usr/bin/env bash
# The quick start in one command, on a fresh Debian/Ubuntu machine (root, or a user with sudo):
# sets up .venv, scalectl, the Docker engine and the images (.ci/bootstrap.sh), then validates
# and deploys this folder's scale.yaml on local Docker and prints a prediction. The endpoint
# stays up: the commands to try next (canary, rollback, destroy) are printed at the end.
# QUICKSTART_PORT picks the gateway's port (default 8000).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
start=$(date +%s)

bash "$REPO/.ci/bootstrap.sh" docker

export QUICKSTART_IMAGE="${QUICKSTART_IMAGE:-scalectl/quickstart:v1}"
export GATEWAY_IMAGE="${GATEWAY_IMAGE:-scalectl/gateway:local}"
port="${QUICKSTART_PORT:-8000}"
scalectl="$REPO/.venv/bin/scalectl"
cd "$HERE"
"$scalectl" validate
"$scalectl" deploy --yes

echo "prediction from http://127.0.0.1:$port/invocations:"
"$REPO/.venv/bin/python" - "$port" <<'PY'
import json, sys, urllib.request
body = {"instances": [{"amount": 900, "night": 1, "distance_km": 120, "foreign": 1}]}
request = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/invocations",
    data=json.dumps(body).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=10) as response:
    print(response.read().decode().strip())
PY

cat <<NEXT
quick start deployed in $(( $(date +%s) - start )) s. Next, from $HERE:
  . $REPO/.venv/bin/activate
  export QUICKSTART_IMAGE=$QUICKSTART_IMAGE GATEWAY_IMAGE=$GATEWAY_IMAGE
  QUICKSTART_IMAGE=scalectl/quickstart:v2 scalectl deploy --yes --allow-idle-bake   # canary 20% for 10 s; no traffic: promote explicitly
  scalectl rollback --yes && scalectl history && scalectl destroy --yes
NEXT
