"""The capture sidecar on 127.0.0.1: forwards every call unchanged, records sampled predict bodies, never headers."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scalectl.capture import CaptureWriter, read_records, request_features
from scalectl.capture_proxy import CaptureProxy, main

KEY = "sk-live-0123456789abcdef"


class _Model(BaseHTTPRequestHandler):
    """A model: /ping, and /invocations scoring `amount` (and echoing whether it saw the key header)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, doc: object) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"ok": True})

    def do_POST(self) -> None:
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if "instances" not in doc:
            self._send(400, {"error": "expected instances"})
            return
        self._send(
            200,
            {
                "predictions": [i["amount"] / 1000 for i in doc["instances"]],
                "saw_key": self.headers.get("X-Api-Key") == KEY,
            },
        )


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, Path, ThreadingHTTPServer]]:
    model = ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    _serve(model)
    writer = CaptureWriter(tmp_path / "cap", "local", percent=100, max_bytes=4096)
    server = CaptureProxy(("127.0.0.1", 0), f"http://127.0.0.1:{model.server_address[1]}", writer, "/invocations", 5)
    _serve(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "cap", model
    server.shutdown()
    server.server_close()
    writer.close()
    model.shutdown()
    model.server_close()


def _post(url: str, doc: object) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={"X-Api-Key": KEY}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body.startswith(b"{") else {"text": body.decode()}


def test_forwards_and_captures_bodies_but_no_header(proxy) -> None:  # type: ignore[no-untyped-def]
    url, folder, _model = proxy
    for amount in range(100):
        status, doc = _post(f"{url}/invocations", {"instances": [{"amount": amount, "night": amount % 2}]})
        assert status == 200 and doc["saw_key"] is True  # the key still reaches the model
    with urllib.request.urlopen(f"{url}/ping", timeout=5) as resp:
        assert resp.status == 200
    assert _post(f"{url}/invocations", {"wrong": 1})[0] == 400  # errors pass through, and are captured too
    records = read_records(folder)
    assert len(records) == 101
    assert request_features(records, ["amount", "night"])["amount"][:3] == [0, 1, 2]
    files = list(folder.glob("requests-*.jsonl"))
    assert len(files) > 1  # rotated at 4 KiB
    text = "".join(f.read_text() for f in files)
    assert KEY not in text and "X-Api-Key" not in text and "ping" not in text


def test_upstream_down_is_a_502(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "cap", "local", percent=100)
    server = CaptureProxy(("127.0.0.1", 0), "http://127.0.0.1:9", writer, "/invocations", 2)
    _serve(server)
    try:
        status, doc = _post(f"http://127.0.0.1:{server.server_address[1]}/invocations", {"instances": []})
        assert status == 502 and "upstream unavailable" in doc["text"]
        assert read_records(tmp_path / "cap") == []
    finally:
        server.shutdown()
        server.server_close()


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--upstream", "ftp://x", "--dir", str(tmp_path), "--listen", "127.0.0.1:0"]) == 2
    assert "expected http://host:port" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--upstream", "http://127.0.0.1:1", "--dir", str(tmp_path), "--percent", "0"])
    assert exc.value.code == 2


def test_docker_validate_refuses_a_destination_it_cannot_write(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scale = tmp_path / "scale.yaml"
    base = "version: 1\nname: fraud\nmodel: {image: fraud:v1}\ntargets:\n  local:\n    provider: docker\n"
    for destination, ok in (("captures", True), ("s3://bucket/x", False)):
        scale.write_text(base + f"    monitoring: {{capture: {{percent: 20, destination: {destination}}}}}\n")
        result = cli("validate", "-f", scale, "--output", "json")
        assert (result.exit_code == 0) is ok, result.stdout
    assert "directory on this host" in result.stdout
    (tmp_path / "file").write_text("")
    scale.write_text(base + "    monitoring: {capture: {percent: 20, destination: file/sub}}\n")
    result = cli("validate", "-f", scale, "--output", "json")
    assert result.exit_code == 2 and "cannot be created or written" in result.stdout
