"""What `scalectl init` writes: a scale.yaml, a small model server that builds from the local
base image, and the JSON Schema the file's `$schema` comment points at.

The starter must deploy as is on a machine set up by `bash examples/quickstart/run.sh` (no
registry): the model is built from `./server` (FROM scalectl/base:bookworm, which the setup
builds) and the gateway defaults to the locally built scalectl/gateway:local.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from scalectl.errors import UsageError

SERVER_DIR = "server"
SCHEMA_FILE = "scale.schema.json"

SCALE_YAML = """\
# scale.yaml: one file, every target. `scalectl validate` checks it; `scalectl schema` gives editors the schema.
# yaml-language-server: $schema=./scale.schema.json
version: 1
name: {name}
model:
  image: {name}:${GIT_SHA:-latest}   # ${VAR} and ${VAR:-default} come from the environment
  build: ./server                      # docker targets build the image from this folder first
  port: 8080                           # the container serves HTTP here
  health: /ping                        # GET -> 200 when ready
  predict: /invocations                # POST -> prediction
  env: {LOG_LEVEL: info}
  # secrets: {API_TOKEN: env://API_TOKEN}   # references only, never values
defaults:                              # inherited by every target; a target's own keys win
  autoscaling: {min: 1, max: 4, metric: requests_per_replica, target: 50}
  rollout: {strategy: canary, percent: 10, bake: 30s, auto_rollback: true}
targets:
  local:
    provider: docker
    replicas: 2
    port: ${LOCAL_PORT:-8000}          # the gateway's stable port on this machine
    # built locally by .ci/setup-docker.sh; with a registry, nginx:1.27-alpine
    gateway_image: ${GATEWAY_IMAGE:-scalectl/gateway:local}
  # prod-aws:   {provider: aws, region: us-east-1, instance: ml.g5.xlarge,
  #              execution_role: arn:aws:iam::123456789012:role/sagemaker-exec}
  # prod-gcp:   {provider: gcp, project: acme, region: us-central1, machine: g2-standard-8,
  #              accelerator: {type: NVIDIA_L4, count: 1}, spot: true}
  # prod-azure: {provider: azure, subscription: 00000000-0000-0000-0000-000000000000,
  #              resource_group: ml, workspace: prod, instance: Standard_NC4as_T4_v3}
traffic:                               # for `scalectl cost-estimate`
  peak_rps: 120
  offpeak_rps: 10
  peak_hours_per_day: 10
  replica_rps: 40
"""

DOCKERFILE = """\
# The starter model server. BASE_IMAGE is any image with python3: scalectl/base:bookworm is built
# locally by .ci/setup-docker.sh (no registry needed); with a registry, python:3.12-slim.
ARG BASE_IMAGE=scalectl/base:bookworm
FROM ${BASE_IMAGE}
COPY serve.py /opt/program/serve.py
ENV PYTHONUNBUFFERED=1 PORT=8080
EXPOSE 8080
STOPSIGNAL SIGINT
CMD ["python3", "/opt/program/serve.py"]
"""

SERVE_PY = '''\
"""A starter model server on the standard library: GET /ping, POST /invocations.

Replace `predict` with your model. Request: {"instances": [[x1, x2, ...], ...]};
answer: {"predictions": [score, ...]}, a logistic score of the sum of each instance.
"""

import json
import math
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def predict(instance: list) -> float:
    return 1 / (1 + math.exp(-max(-60.0, min(60.0, sum(float(v) for v in instance)))))


class Handler(BaseHTTPRequestHandler):
    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/ping":
            return self.reply(200, {"status": "ok"})
        return self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/invocations":
            return self.reply(404, {"error": "not found"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            self.reply(200, {"predictions": [predict(i) for i in body["instances"]]})
        except (ValueError, KeyError, TypeError) as exc:
            self.reply(400, {"error": f"expected {{\\"instances\\": [[numbers], ...]}}: {exc}"})

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
'''


def app_name(folder: Path) -> str:
    """The folder's name as a valid `name:` (it names every resource), else `my-model`."""
    name = re.sub(r"[^a-z0-9-]+", "-", folder.name.lower()).lstrip("-0123456789")[:40].strip("-")
    return name if re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name) else "my-model"


def starter_files(file: Path) -> dict[Path, str]:
    """Every file `init` writes for a scale.yaml at `file`, by path."""
    from scalectl.config import json_schema

    here = file.parent
    return {
        file: SCALE_YAML.replace("{name}", app_name(here.resolve())),
        here / SCHEMA_FILE: json.dumps(json_schema(), indent=2) + "\n",
        here / SERVER_DIR / "Dockerfile": DOCKERFILE,
        here / SERVER_DIR / "serve.py": SERVE_PY,
    }


def write_starter(file: Path, force: bool) -> list[Path]:
    """Write the starter; refuse (nothing written) when any of its files exists, unless `force`."""
    files = starter_files(file)
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; pass --force to overwrite"
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
