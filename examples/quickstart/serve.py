"""The quickstart model server: SageMaker's serving contract on the standard library.

GET /ping is 200 once the model in $MODEL_DIR/model.json (default /opt/ml/model) is loaded
and 503 when it could not be; POST /invocations takes {"instances": [{feature: value}, ...]}
(or lists in feature order) and returns a fraud probability per instance.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Model:
    version: str
    features: list[str]
    mean: list[float]
    std: list[float]
    weights: list[float]
    bias: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        model = cls(
            version=str(d.get("version", "unknown")),
            features=list(d["features"]),
            mean=[float(v) for v in d["mean"]],
            std=[float(v) for v in d["std"]],
            weights=[float(v) for v in d["weights"]],
            bias=float(d["bias"]),
        )
        n = len(model.features)
        if not (len(model.mean) == len(model.std) == len(model.weights) == n):
            raise ValueError(f"model has {n} features but {len(model.weights)} weights")
        return model

    def probability(self, x: list[float]) -> float:
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.std, strict=True))
        return 1 / (1 + math.exp(-max(-60.0, min(60.0, z))))

    def row(self, instance: Any) -> list[float]:
        if isinstance(instance, dict):
            return [float(instance[f]) for f in self.features]
        if isinstance(instance, list) and len(instance) == len(self.features):
            return [float(v) for v in instance]
        raise ValueError(f"each instance is an object with {self.features} or a list of {len(self.features)} numbers")


def load(model_dir: Path) -> tuple[Model | None, str]:
    try:
        return Model.from_dict(json.loads((model_dir / "model.json").read_text())), ""
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"cannot load {model_dir / 'model.json'}: {exc}"


MODEL_DIR = Path(os.environ.get("MODEL_DIR", "/opt/ml/model"))
MODEL, LOAD_ERROR = load(MODEL_DIR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle's algorithm and a keep-alive
        # client's delayed ACK add 40 ms to every response behind a gateway.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/ping":
            if MODEL is None:
                self._send(503, {"status": "unhealthy", "error": LOAD_ERROR})
            else:
                self._send(200, {"status": "ok", "model_version": MODEL.version})
        else:
            self._send(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path != "/invocations":
            self._send(404, {"error": f"no route {self.path}"})
            return
        if MODEL is None:
            self._send(503, {"error": LOAD_ERROR})
            return
        try:
            instances = json.loads(body or b"{}")["instances"]
            probs = [MODEL.probability(MODEL.row(i)) for i in instances]
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": f"bad request: {exc}"})
            return
        self._send(
            200,
            {
                "model_version": MODEL.version,
                "predictions": [{"fraud_probability": round(p, 6), "fraud": p >= 0.5} for p in probs],
            },
        )

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("LOG_LEVEL", "info") == "debug":
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    if MODEL is None:
        print(f"model not loaded: {LOAD_ERROR}; /ping answers 503", file=sys.stderr, flush=True)
    else:
        print(f"serving model {MODEL.version} on :{port}", file=sys.stderr, flush=True)
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
