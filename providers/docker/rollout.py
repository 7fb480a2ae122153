"""`provider: docker`: replicas of the model container behind an nginx gateway on one machine.

Per target, on the engine: a bridge network, a gateway container that owns the stable host
port and the traffic split, and `replicas` containers per revision. A deploy starts the new
revision next to the old one, waits for its health route, then shifts the gateway's weights
(all at once, canary or linear) with a graceful nginx reload. The previous `keep_revisions`
revisions stay running, so a rollback is one reload (about a second).

History lives on the engine: replica labels carry revision, digest and image, and the
gateway container holds `state.json` (revisions with status, traffic split), so any shell
or a fresh `--state-dir` sees the same history and can roll back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalectl.errors import DeployFailed, Diagnostic, ProviderError, ScalectlError
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.render import render_json, render_text
from scalectl.wait import WaitTimeout, poll_until

from . import api as eng

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

    from scalectl.config import ScaleFile
    from scalectl.events import Events

    from .schema import DockerTarget

LOCAL_SECRET_SCHEMES = ("env", "file")
DEFAULT_MAX_ERROR_RATE = 0.05  # share of a canary's requests that may fail during a bake
API_KEY_VALUE = re.compile(r"[A-Za-z0-9._+/=-]{16,}")
REVISION_FIELDS = ("number", "digest", "image", "created_at", "created_by", "status", "message")


# ---------------------------------------------------------------- names and pure rendering


def prefix(release: Release) -> str:
    return f"scalectl-{release.app}-{release.target_name}"


def replica_name(release: Release, revision: int | str, index: int) -> str:
    return f"{prefix(release)}-r{revision}-{index}"


def gateway_name(release: Release) -> str:
    return f"{prefix(release)}-gateway"


def base_labels(release: Release, role: str) -> dict[str, str]:
    return {
        f"{eng.LABEL}.app": release.app,
        f"{eng.LABEL}.target": release.target_name,
        f"{eng.LABEL}.role": role,
    }


def docker_target(release: Release) -> DockerTarget:
    from .schema import DockerTarget

    assert isinstance(release.target, DockerTarget)
    return release.target


def gpu_ids(target: DockerTarget, index: int) -> list[str] | None:
    """GPU ids replica `index` gets when `gpus_per_replica` spreads replicas over GPUs."""
    if target.gpus_per_replica is None or target.gpus is None or target.gpus == "all":
        return None
    pool = list(range(target.gpus)) if isinstance(target.gpus, int) else list(target.gpus)
    k = target.gpus_per_replica
    return [str(g) for g in pool[index * k : (index + 1) * k]]


def device_requests(target: DockerTarget, index: int) -> list[dict[str, Any]]:
    """Docker DeviceRequests for replica `index` (what `docker run --gpus` sends)."""
    if target.gpus is None:
        return []
    request: dict[str, Any] = {"Driver": "nvidia", "Capabilities": [["gpu"]]}
    ids = gpu_ids(target, index)
    if ids is not None:
        request["DeviceIDs"] = ids
    elif target.gpus == "all":
        request["Count"] = -1
    elif isinstance(target.gpus, int):
        request["Count"] = target.gpus
    else:
        request["DeviceIDs"] = [str(g) for g in target.gpus]
    return [request]


def secret_placeholder(name: str, reference: str) -> str:
    return f"{name}=<secret {reference}, resolved at deploy>"


def artifact_mounts(release: Release) -> list[dict[str, Any]]:
    if not release.model.artifact:
        return []
    source = (release.base_dir / release.model.artifact).resolve()
    return [{"Type": "bind", "Source": str(source), "Target": "/opt/ml/model", "ReadOnly": True}]


@dataclass(frozen=True)
class Stamp:
    """Who/when/which revision, known only at deploy; `render` shows placeholders."""

    revision: int | str = "next"
    created_at: str = "<deploy time>"
    created_by: str = "<deploying user>"


def replica_body(release: Release, stamp: Stamp, index: int, env: list[str] | None = None) -> dict[str, Any]:
    """The POST /containers/create body of one replica (secret values only when `env` is given)."""
    t = docker_target(release)
    model = release.model
    if env is None:
        env = [f"{k}={v}" for k, v in model.env.items()]
        env += [secret_placeholder(k, ref) for k, ref in model.secrets.items() if k != t.api_key]
    labels = {
        **base_labels(release, "replica"),
        f"{eng.LABEL}.revision": str(stamp.revision),
        f"{eng.LABEL}.digest": release.digest,
        f"{eng.LABEL}.image": model.image,
        f"{eng.LABEL}.index": str(index),
        f"{eng.LABEL}.created_at": stamp.created_at,
        f"{eng.LABEL}.created_by": stamp.created_by,
    }
    return render_json(
        "docker/replica.json.j2",
        image=model.image,
        env=env,
        labels=labels,
        model_port=model.port,
        network=prefix(release),
        # health checks reach replicas on their published port: loopback unless the engine is remote
        publish_host="127.0.0.1" if eng.engine_host() == "127.0.0.1" else "0.0.0.0",
        mounts=artifact_mounts(release),
        device_requests=device_requests(t, index),
        name=replica_name(release, stamp.revision, index),
    )


def gateway_key(release: Release) -> str:
    """What forces the gateway container to be recreated when it changes (port, host, image)."""
    t = docker_target(release)
    return hashlib.sha256(f"{t.gateway_image}|{t.host}|{t.port}".encode()).hexdigest()[:12]


def gateway_body(release: Release) -> dict[str, Any]:
    t = docker_target(release)
    labels = {
        **base_labels(release, "gateway"),
        f"{eng.LABEL}.port": str(t.port),
        f"{eng.LABEL}.host": t.host,
        f"{eng.LABEL}.gateway_key": gateway_key(release),
    }
    return render_json(
        "docker/gateway.json.j2",
        image=t.gateway_image,
        labels=labels,
        network=prefix(release),
        host=t.host,
        port=t.port,
        conf_dir=eng.CONF_DIR,
    )


def network_body(release: Release) -> dict[str, Any]:
    return render_json("docker/network.json.j2", name=prefix(release), labels=base_labels(release, "network"))


@dataclass
class Upstream:
    number: int | str
    percent: int
    image: str
    servers: list[str]
    backups: list[str] = field(default_factory=list)


def nginx_conf(release: Release, upstreams: list[Upstream], generation: int) -> str:
    """The gateway's whole nginx.conf: one upstream per revision in traffic, split by percent."""
    t = docker_target(release)
    api_key = None
    if t.api_key:
        api_key = {"name": t.api_key, "reference": release.model.secrets.get(t.api_key, "?")}
    return render_text(
        "docker/nginx.conf.j2",
        app=release.app,
        target=release.target_name,
        generation=generation,
        upstreams=[u.__dict__ for u in upstreams],
        model_port=release.model.port,
        rate_limit=t.rate_limit,
        api_key=api_key,
        conf_dir=eng.CONF_DIR,
        max_body="64m",
        read_timeout=120,
    )


def resolve_secret(reference: str, base_dir: Path) -> str:
    """The value behind env://VAR or file://path; only at deploy, never logged or stored."""
    scheme, _, rest = reference.partition("://")
    if scheme == "env":
        if rest not in os.environ:
            raise ProviderError(f"secret reference {reference} names environment variable {rest}, which is not set")
        return os.environ[rest]
    if scheme == "file":
        path = (base_dir / rest).expanduser()
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ProviderError(f"secret reference {reference}: cannot read {path}: {exc.strerror}") from None
    raise ProviderError(f"docker targets resolve env:// and file:// secrets only, not {reference}")


def api_key_map(release: Release) -> str | None:
    """The gateway's key map (holds the key's value: written into the gateway container only)."""
    t = docker_target(release)
    if not t.api_key:
        return None
    reference = release.model.secrets[t.api_key]
    value = resolve_secret(reference, release.base_dir)
    if not API_KEY_VALUE.fullmatch(value):  # it goes into nginx syntax: no quoting games
        raise ProviderError(
            f"the API key behind {reference} must be at least 16 characters of letters, digits and ._+/=- "
            "(for example `openssl rand -hex 24`)"
        )
    return f'"{value}" 1;\n'


def url_of(target: DockerTarget) -> str:
    host = eng.engine_host() if target.host in ("0.0.0.0", "127.0.0.1") else target.host
    return f"http://{host}:{target.port}"


def traffic_steps(target: DockerTarget, has_previous: bool) -> list[int]:
    """Percent of traffic the new revision takes at each step, ending at 100."""
    rollout = target.rollout
    if not has_previous or rollout.strategy == "all_at_once":
        return [100]
    if rollout.strategy == "canary":
        return [rollout.percent, 100]
    steps = list(range(rollout.percent, 100, rollout.percent))
    return [*steps, 100]


def split_text(traffic: dict[int, int]) -> str:
    return (
        ", ".join(f"rev {r}: {p}%" for r, p in sorted(traffic.items(), key=lambda kv: (-kv[1], kv[0]))) or "no traffic"
    )


# ---------------------------------------------------------------- engine session


class HealthFailed(ScalectlError):
    pass


@dataclass
class Session:
    """One command's view of a target on the engine: its containers and the gateway's state."""

    client: DockerClient
    release: Release
    state: dict[str, Any]
    gateway: Container | None
    replicas: list[Container]

    @classmethod
    def open(cls, release: Release) -> Session:
        client = eng.connect()
        found = eng.labelled(client, release.app, release.target_name)
        gateway = next((c for c in found if c.labels.get(f"{eng.LABEL}.role") == "gateway"), None)
        replicas = [c for c in found if c.labels.get(f"{eng.LABEL}.role") == "replica"]
        state = (eng.read_state(gateway) if gateway is not None else None) or state_from_labels(replicas)
        return cls(client, release, state, gateway, replicas)

    @property
    def target(self) -> DockerTarget:
        return docker_target(self.release)

    # -- state

    def traffic(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.state.get("traffic", {}).items()}

    def active(self) -> int | None:
        value = self.state.get("active")
        return int(value) if value is not None else None

    def revisions(self) -> list[dict[str, Any]]:
        revs: list[dict[str, Any]] = self.state.setdefault("revisions", [])
        return revs

    def revision(self, number: int) -> dict[str, Any] | None:
        return next((r for r in self.revisions() if int(r["number"]) == number), None)

    def upsert(self, rev: Revision, **extra: Any) -> None:
        entry = {**rev.to_dict(), **extra}
        existing = self.revision(rev.number)
        if existing is None:
            self.revisions().append(entry)
        else:
            existing.update(entry)
        self.revisions().sort(key=lambda r: int(r["number"]))

    def set_status(self, number: int, status: str, message: str | None = None) -> None:
        entry = self.revision(number)
        if entry is not None:
            entry["status"] = status
            if message is not None:
                entry["message"] = message

    def containers_of(self, number: int) -> list[Container]:
        return [c for c in self.replicas if c.labels.get(f"{eng.LABEL}.revision") == str(number)]

    def running_names(self, number: int) -> list[str]:
        names = []
        for c in self.containers_of(number):
            c.reload()
            if c.status == "running":
                names.append(c.name)
        return names

    def serving_sentence(self) -> str:
        traffic = self.traffic()
        if not traffic:
            return "nothing was serving before this deploy, so the gateway answers 503"
        return f"{split_text(traffic)} still serves at {url_of(self.target)}"

    # -- network and gateway

    def ensure_network(self, events: Events) -> None:
        from docker.errors import APIError, NotFound

        name = prefix(self.release)
        try:
            self.client.networks.get(name)
            return
        except NotFound:
            pass
        body = network_body(self.release)
        events.step(f"creating network {name}")
        try:
            self.client.api.create_network(
                body["Name"], driver=body["Driver"], check_duplicate=body["CheckDuplicate"], labels=body["Labels"]
            )
        except APIError as exc:
            raise ProviderError(f"could not create network {name}: {eng.api_error(exc)}") from None

    def remove_network(self) -> None:
        from docker.errors import APIError, NotFound

        with contextlib.suppress(NotFound, APIError):
            self.client.networks.get(prefix(self.release)).remove()

    def ensure_gateway(self, events: Events) -> None:
        """The gateway runs with the current config; recreated when port, host or image changed."""
        t = self.target
        if self.gateway is not None:
            same = self.gateway.labels.get(f"{eng.LABEL}.gateway_key") == gateway_key(self.release)
            self.gateway.reload()
            if same and self.gateway.status == "running":
                return
            if same and self.gateway.status != "running":
                events.step(f"starting gateway {self.gateway.name}")
                eng.start(self.gateway, f"{t.host}:{t.port}")
                self.wait_generation(int(self.state.get("generation", 0)), events)
                return
            events.warn(f"gateway settings changed: recreating {self.gateway.name} on {t.host}:{t.port}")
            eng.remove(self.gateway)
            self.gateway = None
        self.require_image(t.gateway_image, "gateway_image", events)
        if eng.engine_host() == "127.0.0.1" and not eng.port_free(t.host, t.port):
            raise ProviderError(
                f"port {t.port} on {t.host} is taken by another program; free it or set a different `port:` "
                f"for target {self.release.target_name}"
            )
        name = gateway_name(self.release)
        events.step(f"creating gateway {name} on {t.host}:{t.port}")
        self.gateway = eng.create_container(self.client, name, gateway_body(self.release))
        self.state.setdefault("generation", 0)
        self.state["generation"] = int(self.state["generation"]) + 1
        self.write_config()
        try:
            eng.start(self.gateway, f"{t.host}:{t.port}")
        except ProviderError:
            eng.remove(self.gateway)
            self.gateway = None
            raise
        self.wait_generation(int(self.state["generation"]), events)

    def upstreams(self, traffic: dict[int, int]) -> list[Upstream]:
        """Upstreams for the split; each lists the other serving revisions as backups."""
        ordered = sorted(traffic.items(), key=lambda kv: kv[0])
        servers = {number: self.running_names(number) for number, _ in ordered}
        out = []
        for number, percent in ordered:
            if percent <= 0:
                continue
            entry = self.revision(number) or {}
            backups = [s for other, names in servers.items() if other != number for s in names]
            out.append(Upstream(number, percent, str(entry.get("image", "")), servers[number], backups))
        return out

    def write_config(self) -> None:
        """Put nginx.conf, state.json (and the API key map) into the gateway, after `nginx -t` passes."""
        import json

        assert self.gateway is not None
        generation = int(self.state.get("generation", 1))
        conf = nginx_conf(self.release, self.upstreams(self.traffic()), generation)
        files = {"nginx.conf": conf, "state.json": json.dumps(self.state, indent=2, sort_keys=True) + "\n"}
        key_map = api_key_map(self.release)
        if key_map is not None:
            files["api_key.map"] = key_map
        self.gateway.reload()
        if self.gateway.status == "running":
            eng.put_files(self.gateway, {"next.conf": conf, **{k: v for k, v in files.items() if k != "nginx.conf"}})
            eng.exec_checked(self.gateway, ["nginx", "-t", "-q", "-c", f"{eng.CONF_DIR}/next.conf"], "nginx -t")
        eng.put_files(self.gateway, files)

    def save_state(self) -> None:
        """Persist state.json only (no traffic change, no reload)."""
        import json

        if self.gateway is not None:
            eng.put_files(self.gateway, {"state.json": json.dumps(self.state, indent=2, sort_keys=True) + "\n"})

    def wait_generation(self, generation: int, events: Events, timeout: float = 15) -> None:
        t = self.target
        host = url_of(t).split("//", 1)[1].rsplit(":", 1)[0]
        try:
            poll_until(
                lambda: eng.gateway_generation(host, t.port),
                lambda g: g is not None and g >= generation,
                timeout=timeout,
                what=f"the gateway to serve config generation {generation}",
                delay=lambda n: 0.05 if n < 20 else 0.25,
            )
        except WaitTimeout as exc:
            tail = eng.logs_tail(self.gateway) if self.gateway is not None else ""
            raise ProviderError(f"{exc.message}; gateway log: {tail[-400:]}") from None
        events.state("gateway", f"serving generation {generation}")

    def switch(self, traffic: dict[int, int], events: Events) -> None:
        """Point the gateway at `traffic` ({revision: percent}) with a graceful reload, and wait for it."""
        assert self.gateway is not None
        self.state["traffic"] = {str(k): v for k, v in traffic.items() if v > 0}
        self.state["generation"] = int(self.state.get("generation", 0)) + 1
        self.write_config()
        old_workers = eng.accepting_workers(self.gateway)
        self.gateway.kill(signal="SIGHUP")
        self.wait_generation(int(self.state["generation"]), events)
        # Old workers accept a few more connections until they handle the master's QUIT: wait for
        # them, so "traffic moved" means no new request reaches the previous split.
        gateway = self.gateway
        try:
            poll_until(
                lambda: eng.accepting_workers(gateway) & old_workers,
                lambda left: not left,
                timeout=10,
                what="the gateway's previous workers to stop accepting",
                delay=lambda n: 0.02,
            )
        except WaitTimeout as exc:
            events.warn(exc.message)
        events.state("traffic", split_text(traffic))

    # -- replicas

    def require_image(self, image: str, key: str, events: Events) -> str:
        """The image id; pulled when absent; a clear error when it cannot be had."""
        from docker.errors import APIError, ImageNotFound

        try:
            return str(self.client.images.get(image).id)
        except ImageNotFound:
            pass
        events.step(f"pulling {image}")
        try:
            return str(self.client.images.pull(image).id)
        except APIError as exc:
            if key == "model.image":
                hint = f"build it first (`docker build -t {image} .`) or set model.build to build it here"
            else:
                hint = (
                    "point gateway_image at an nginx image this engine has (without a registry, "
                    "`bash .ci/setup-docker.sh` builds scalectl/gateway:local)"
                )
            raise ProviderError(
                f"image {image} ({key}) is not on this engine and could not be pulled: {eng.api_error(exc)}; {hint}"
            ) from None

    def build_image(self, events: Events) -> str:
        from docker.errors import APIError, BuildError

        model = self.release.model
        assert model.build is not None
        context = (self.release.base_dir / model.build).resolve()
        events.step(f"building {model.image} from {context}")
        try:
            image, _ = self.client.images.build(path=str(context), tag=model.image, rm=True)
        except BuildError as exc:
            lines = [str(c.get("stream", c.get("error", ""))).strip() for c in exc.build_log]
            tail = " | ".join(x for x in lines if x)[-500:]
            raise ProviderError(f"building {model.image} from {context} failed: {exc.msg}; {tail}") from None
        except APIError as exc:
            raise ProviderError(f"building {model.image} from {context} failed: {eng.api_error(exc)}") from None
        return str(image.id)

    def check_gpus(self) -> None:
        t = self.target
        if t.gpus is None:
            return
        runtimes = self.client.info().get("Runtimes") or {}
        if "nvidia" not in runtimes:
            raise ProviderError(
                f"target {self.release.target_name} asks for GPUs (gpus: {t.gpus}) but this Docker engine has no "
                f"NVIDIA runtime (runtimes: {', '.join(sorted(runtimes)) or 'none'}). Install the NVIDIA Container "
                "Toolkit and run `nvidia-ctk runtime configure --runtime=docker`, or remove `gpus:` to run on CPU"
            )

    def start_replicas(self, stamp: Stamp, events: Events) -> list[Container]:
        t = self.target
        model = self.release.model
        env = [f"{k}={v}" for k, v in model.env.items()]
        env += [
            f"{k}={resolve_secret(ref, self.release.base_dir)}"
            for k, ref in model.secrets.items()
            if k != t.api_key  # the gateway's key is the gateway's business, not the model's
        ]
        created: list[Container] = []

        def start(container: Container) -> None:
            eng.start(container, f"127.0.0.1:<ephemeral> for {container.name}")
            events.state(container.name, "started")

        try:
            for index in range(t.replicas):
                name = replica_name(self.release, stamp.revision, index)
                stale = [c for c in self.replicas if c.name == name]
                for c in stale:  # a leftover of an interrupted attempt with the same number
                    eng.remove(c)
                    self.replicas.remove(c)
                container = eng.create_container(self.client, name, replica_body(self.release, stamp, index, env))
                created.append(container)
                self.replicas.append(container)
            # Starting is the slow part (the runtime sets up each container): do it side by side.
            with ThreadPoolExecutor(max_workers=min(8, len(created))) as pool:
                for future in [pool.submit(start, c) for c in created]:
                    future.result()
        except ScalectlError:
            for c in created:
                eng.remove(c)
                self.replicas.remove(c)
            raise
        return created

    def wait_healthy(self, containers: list[Container], timeout: float, events: Events) -> float:
        """Seconds until every container answered 200 on the health route; HealthFailed otherwise."""
        model = self.release.model
        began = time.monotonic()
        pending = list(containers)
        last: dict[str, eng.Health] = {}

        def check() -> list[Container]:
            for c in list(pending):
                health = eng.probe(c, model.port, model.health)
                last[c.name] = health
                if health.ok:
                    pending.remove(c)
                    events.state(c.name, "healthy")
                elif health.dead:
                    raise HealthFailed(f"{c.name} {health.detail}: {eng.logs_tail(c)[-300:]}")
            return pending

        try:
            poll_until(
                check,
                lambda left: not left,
                timeout=timeout,
                what=f"{len(containers)} replica(s) to answer 200 on {model.health}",
                delay=lambda n: 0.1 if n < 20 else 0.5,
            )
        except WaitTimeout:
            answers = sorted({last[c.name].detail for c in pending if c.name in last})
            detail = f"; last answer: GET {model.health} -> {' | '.join(answers)[:300]}" if answers else ""
            raise HealthFailed(
                f"{len(pending)} of {len(containers)} replica(s) not healthy after {timeout:.0f}s{detail}"
            ) from None
        return time.monotonic() - began

    def bake(self, number: int, seconds: float, events: Events) -> str | None:
        """Watch the new revision for `seconds`; the reason to roll back, or None when it held up."""
        model = self.release.model
        rollout = self.target.rollout
        threshold = rollout.max_error_rate or DEFAULT_MAX_ERROR_RATE
        began_wall = time.time()
        deadline = time.monotonic() + seconds
        events.step(f"baking revision {number} for {seconds:.0f}s (max error rate {threshold:.0%})")
        while True:
            for c in self.containers_of(number):
                health = eng.probe(c, model.port, model.health)
                if not health.ok:
                    health = eng.probe(c, model.port, model.health)  # one retry: a blip is not a failure
                if not health.ok:
                    return f"{c.name} failed its health check during the bake (GET {model.health} -> {health.detail})"
            if self.gateway is not None:
                addresses = self.addresses(number)
                total, failed = eng.gateway_errors(self.gateway, began_wall - 1, number, addresses)
                if total >= 5 and failed / total > threshold:
                    return f"{failed} of {total} requests to revision {number} failed at the gateway during the bake"
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def addresses(self, number: int) -> set[str]:
        """ip:port of the revision's replicas on the target's network, as the gateway logs them."""
        network = prefix(self.release)
        out = set()
        for c in self.containers_of(number):
            ip = (c.attrs.get("NetworkSettings", {}).get("Networks", {}).get(network) or {}).get("IPAddress")
            if ip:
                out.add(f"{ip}:{self.release.model.port}")
        return out

    def discard(self, number: int, events: Events) -> None:
        for c in self.containers_of(number):
            eng.remove(c)
            self.replicas.remove(c)
            events.state(c.name, "removed")

    def prune(self, keep: int, events: Events) -> None:
        """Keep the active revision and the `keep` newest others warm; remove older containers."""
        active = self.active()
        numbers = sorted({int(c.labels[f"{eng.LABEL}.revision"]) for c in self.replicas}, reverse=True)
        others = [n for n in numbers if n != active]
        for number in others[keep:]:
            events.step(f"removing revision {number}'s containers (keep_revisions: {keep})")
            self.discard(number, events)

    def warm(self, number: int) -> bool:
        return bool(self.running_names(number))


def state_from_labels(replicas: list[Container]) -> dict[str, Any]:
    """Rebuild history from replica labels when the gateway (and its state.json) is gone."""
    revisions: dict[int, dict[str, Any]] = {}
    for c in replicas:
        labels = c.labels
        try:
            number = int(labels.get(f"{eng.LABEL}.revision", ""))
        except ValueError:
            continue
        revisions[number] = {
            "number": number,
            "digest": labels.get(f"{eng.LABEL}.digest", ""),
            "image": labels.get(f"{eng.LABEL}.image", ""),
            "created_at": labels.get(f"{eng.LABEL}.created_at", ""),
            "created_by": labels.get(f"{eng.LABEL}.created_by", ""),
            "status": "superseded",
            "message": "recovered from container labels",
        }
    active = max(revisions, default=None)
    if active is not None:
        revisions[active]["status"] = "active"
    return {
        "generation": 0,
        "active": active,
        "traffic": {str(active): 100} if active is not None else {},
        "revisions": [revisions[n] for n in sorted(revisions)],
    }


def as_revision(entry: dict[str, Any]) -> Revision:
    return Revision(**{k: entry[k] for k in REVISION_FIELDS if k in entry})


# ---------------------------------------------------------------- the provider


class DockerProvider:
    """Provider for `provider: docker` targets on the engine DOCKER_HOST names."""

    name = "docker"

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        from .schema import DockerTarget

        t = spec.targets[target]
        assert isinstance(t, DockerTarget)
        here = ("targets", target)
        out: list[Diagnostic] = []
        if t.spot:
            out.append(Diagnostic("spot has no meaning on a local Docker machine; remove `spot`", (*here, "spot")))
        if t.rollout.alarms:
            out.append(
                Diagnostic(
                    "rollout.alarms are CloudWatch alarms (aws targets); docker targets roll back on health checks "
                    "and the gateway's error rate: use rollout.max_error_rate",
                    (*here, "rollout", "alarms"),
                )
            )
        if t.gpus_per_replica is not None:
            if t.gpus is None or t.gpus == "all":
                out.append(
                    Diagnostic(
                        "gpus_per_replica needs `gpus:` as a count or a list of ids, so each replica gets distinct "
                        "GPUs (with `gpus: all` every replica shares all GPUs)",
                        (*here, "gpus_per_replica"),
                    )
                )
            else:
                pool = t.gpus if isinstance(t.gpus, int) else len(t.gpus)
                if t.replicas * t.gpus_per_replica > pool:
                    out.append(
                        Diagnostic(
                            f"{t.replicas} replicas x {t.gpus_per_replica} GPUs each needs "
                            f"{t.replicas * t.gpus_per_replica} GPUs but `gpus:` offers {pool}; "
                            "lower replicas or gpus_per_replica",
                            (*here, "gpus_per_replica"),
                        )
                    )
        if isinstance(t.gpus, list) and len(set(t.gpus)) != len(t.gpus):
            out.append(Diagnostic("gpus lists the same GPU id twice", (*here, "gpus")))
        if isinstance(t.gpus, int) and t.gpus < 1:
            out.append(Diagnostic("gpus must be `all`, a count of at least 1, or a list of ids", (*here, "gpus")))
        for name, ref in spec.model.secrets.items():
            if ref.split("://", 1)[0] not in LOCAL_SECRET_SCHEMES:
                out.append(
                    Diagnostic(
                        f"docker targets read secrets from env:// or file:// references; {ref} needs a cloud "
                        f"secret store (fetch it into an environment variable and use env://VAR)",
                        ("model", "secrets", name),
                    )
                )
        if t.api_key is not None and t.api_key not in spec.model.secrets:
            known = ", ".join(spec.model.secrets) or "none defined"
            out.append(
                Diagnostic(
                    f"api_key names secret {t.api_key!r}, which is not in model.secrets ({known})", (*here, "api_key")
                )
            )
        artifact = spec.model.artifact
        if artifact:
            if "://" in artifact:
                out.append(
                    Diagnostic(
                        f"docker targets mount a local folder at /opt/ml/model; download {artifact} first and "
                        "point model.artifact at the folder",
                        ("model", "artifact"),
                    )
                )
            elif not (base_dir / artifact).exists():
                out.append(
                    Diagnostic(
                        f"model.artifact {artifact} does not exist (relative to {base_dir})", ("model", "artifact")
                    )
                )
        if spec.model.build and not (base_dir / spec.model.build / "Dockerfile").is_file():
            out.append(Diagnostic(f"model.build: no Dockerfile in {base_dir / spec.model.build}", ("model", "build")))
        return out

    def render(self, release: Release) -> dict[str, str]:
        import json

        t = docker_target(release)
        stamp = Stamp()
        files = {
            "network.json": json.dumps(network_body(release), indent=2) + "\n",
            "gateway.json": json.dumps(gateway_body(release), indent=2) + "\n",
        }
        for index in range(t.replicas):
            files[f"replica-{index}.json"] = json.dumps(replica_body(release, stamp, index), indent=2) + "\n"
        servers = [replica_name(release, stamp.revision, i) for i in range(t.replicas)]
        files["nginx.conf"] = nginx_conf(release, [Upstream(stamp.revision, 100, release.model.image, servers)], 1)
        return files

    def observe(self, release: Release) -> Live:
        session = Session.open(release)
        if session.gateway is None and not session.replicas:
            return Live(exists=False)
        t = session.target
        model = release.model
        replicas = []
        for c in session.replicas:
            health = eng.probe(c, model.port, model.health, timeout=0.5)
            requests = c.attrs.get("HostConfig", {}).get("DeviceRequests") or []
            gpus = [",".join(r.get("DeviceIDs") or []) or f"count {r.get('Count')}" for r in requests]
            replicas.append(
                {
                    "name": c.name,
                    "revision": int(c.labels.get(f"{eng.LABEL}.revision", "0")),
                    "state": c.status,
                    "health": "healthy" if health.ok else f"unhealthy ({health.detail})",
                    "gpus": gpus[0] if gpus else "none",
                }
            )
        gateway = None
        if session.gateway is not None:
            labels = session.gateway.labels
            gateway = {
                "name": session.gateway.name,
                "state": session.gateway.status,
                "image": t.gateway_image,
                "listen": f"{labels.get(f'{eng.LABEL}.host')}:{labels.get(f'{eng.LABEL}.port')}",
                "gateway_key": session.gateway.labels.get(f"{eng.LABEL}.gateway_key"),
            }
        warm = sorted({r["revision"] for r in replicas if r["state"] == "running"})
        return Live(
            exists=True,
            revisions=[as_revision(r) for r in session.revisions()],
            active=session.active(),
            traffic=session.traffic(),
            url=url_of(t),
            details={"gateway": gateway, "replicas": replicas, "warm_revisions": warm},
        )

    def plan(self, release: Release, live: Live) -> list[Change]:
        t = docker_target(release)
        model = release.model
        active = live.active_revision
        if active is not None and active.digest == release.digest:
            running = [
                r
                for r in live.details.get("replicas", [])
                if r["revision"] == active.number and r["state"] == "running"
            ]
            gateway = live.details.get("gateway") or {}
            if len(running) == t.replicas and gateway.get("state") == "running":
                return [Change("keep", f"revision {active.number}", "already running this config")]
        gpus = (
            f", gpus {t.gpus}" + (f" ({t.gpus_per_replica} per replica)" if t.gpus_per_replica else "")
            if t.gpus
            else ""
        )
        changes: list[Change] = []
        gateway = live.details.get("gateway") if live.exists else None
        if not live.exists:
            changes.append(Change("create", f"network {prefix(release)}", "bridge"))
        if gateway is None:
            changes.append(
                Change("create", f"gateway {gateway_name(release)}", f"{t.gateway_image} on {t.host}:{t.port}")
            )
        elif gateway.get("gateway_key") != gateway_key(release):
            changes.append(
                Change(
                    "update", f"gateway {gateway_name(release)}", f"recreate on {t.host}:{t.port} ({t.gateway_image})"
                )
            )
        changes.append(
            Change(
                "create", f"{t.replicas} replica(s) of {model.image}", f"port {model.port}, health {model.health}{gpus}"
            )
        )
        steps = traffic_steps(t, live.active is not None)
        how = " -> ".join(f"{p}%" for p in steps)
        if len(steps) > 1:
            how += f", baking {t.rollout.bake}s per step"
        changes.append(Change("update", "gateway traffic", f"new revision takes {how}"))
        if live.active is not None:
            changes.append(Change("keep", f"revision {live.active}", "stays running (warm) for fast rollback"))
        warm = [r for r in live.details.get("warm_revisions", []) if r != live.active] if live.exists else []
        drop = sorted(warm, reverse=True)[max(0, t.keep_revisions - 1) :] if live.active is not None else []
        for number in sorted(drop):
            changes.append(
                Change("delete", f"revision {number} containers", f"beyond keep_revisions: {t.keep_revisions}")
            )
        return changes

    def apply(self, plan: Plan, events: Events) -> Revision:
        release = plan.release
        t = docker_target(release)
        deadline = time.monotonic() + plan.timeout
        session = Session.open(release)
        session.check_gpus()
        for reference in release.model.secrets.values():  # fail before anything is created
            resolve_secret(reference, release.base_dir)
        api_key_map(release)
        if release.model.build:
            image_id = session.build_image(events)
        else:
            image_id = session.require_image(release.model.image, "model.image", events)
        fresh = session.gateway is None and not session.replicas
        try:
            session.ensure_network(events)
            session.ensure_gateway(events)
        except ScalectlError:
            if fresh:  # leave nothing behind when a first deploy could not even start its gateway
                session.remove_network()
            raise

        number = plan.revision.number
        previous = session.active()
        if previous is not None and not session.warm(previous):
            previous = None  # nothing runs for it: there is nothing to keep serving or split with
        stamp = Stamp(number, plan.revision.created_at, plan.revision.created_by)
        revision = Revision(**{**plan.revision.to_dict(), "status": "pending"})
        session.upsert(revision, image_id=image_id)
        session.save_state()

        events.step(f"starting {t.replicas} replica(s) of revision {number} ({release.model.image})")
        try:
            containers = session.start_replicas(stamp, events)
            startup = min(float(t.startup_timeout), max(1.0, deadline - time.monotonic()))
            healthy_in = session.wait_healthy(containers, startup, events)
        except ScalectlError as exc:
            session.discard(number, events)
            message = f"revision {number} did not become healthy: {exc.message}"
            session.set_status(number, "failed", message)
            session.save_state()
            raise DeployFailed(f"{message}. Removed its containers; {session.serving_sentence()}") from None
        events.state(f"revision {number}", "healthy", seconds=round(healthy_in, 3))

        for percent in traffic_steps(t, previous is not None):
            traffic = (
                {number: percent} if previous is None or percent == 100 else {number: percent, previous: 100 - percent}
            )
            try:
                session.switch(traffic, events)
                reason = None
                if percent < 100 and t.rollout.bake:
                    remaining = deadline - time.monotonic()
                    reason = session.bake(number, min(float(t.rollout.bake), max(0.0, remaining)), events)
                    if reason is None and remaining < t.rollout.bake:
                        reason = f"the rollout ran out of time ({plan.timeout}s, rollout.timeout or --timeout)"
            except ScalectlError as exc:
                reason = exc.message
            if reason is None:
                continue
            if previous is None:  # the switch to the only revision failed: nothing else can serve
                session.set_status(number, "failed", reason)
                session.save_state()
                raise DeployFailed(f"revision {number}: {reason}")
            if not t.rollout.auto_rollback:
                session.set_status(number, "pending", reason)
                session.save_state()
                raise DeployFailed(
                    f"revision {number}: {reason}. auto_rollback is off, so the gateway stays at "
                    f"{split_text(traffic)}; run `scalectl rollback -t {release.target_name}` to go back"
                )
            events.warn(f"rolling back: {reason}")
            session.switch({previous: 100}, events)
            session.discard(number, events)
            session.set_status(number, "failed", reason)
            session.save_state()
            raise DeployFailed(
                f"revision {number} was rolled back automatically: {reason}. "
                f"Revision {previous} serves 100% at {url_of(t)}"
            )

        session.state["active"] = number
        session.set_status(number, "active", "")
        if previous is not None:
            session.set_status(previous, "superseded")
        for entry in session.revisions():
            if entry["status"] == "active" and int(entry["number"]) != number:
                entry["status"] = "superseded"
        session.prune(t.keep_revisions, events)
        session.save_state()
        return as_revision(session.revision(number) or revision.to_dict())

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        t = docker_target(release)
        session = Session.open(release)
        if session.gateway is None:
            raise ProviderError(
                f"the gateway of {release.target_name} is gone; run `scalectl deploy` to recreate it, then roll back"
            )
        session.ensure_gateway(events)
        current = session.active()
        containers = session.containers_of(to.number)
        running = session.running_names(to.number)
        if containers and len(running) < len(containers):
            events.step(f"restarting revision {to.number}'s stopped containers")
            for c in containers:
                c.reload()
                if c.status != "running":
                    eng.start(c, f"127.0.0.1:<ephemeral> for {c.name}")
        if not containers:
            entry = session.revision(to.number) or {}
            events.warn(
                f"revision {to.number}'s containers were removed (keep_revisions: {t.keep_revisions}); "
                f"starting {to.image} again with the current settings (cold rollback)"
            )
            image = str(entry.get("image_id") or to.image)
            cold = Release(**{**release.__dict__, "model": release.model.model_copy(update={"image": image})})
            session.release = cold
            containers = session.start_replicas(Stamp(to.number, to.created_at, to.created_by), events)
            session.release = release
        else:
            events.step(f"revision {to.number} is warm: switching the gateway back")
        try:
            session.wait_healthy(containers, float(t.startup_timeout), events)
        except HealthFailed as exc:
            raise ProviderError(
                f"revision {to.number} is not healthy ({exc.message}); traffic was not moved: "
                f"{session.serving_sentence()}"
            ) from None
        session.switch({to.number: 100}, events)
        session.state["active"] = to.number
        session.set_status(to.number, "active", f"rolled back from revision {current}")
        if current is not None and current != to.number:
            session.set_status(current, "rolled_back")
        session.prune(t.keep_revisions, events)
        session.save_state()
        return as_revision(session.revision(to.number) or to.to_dict())

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        from docker.errors import APIError, NotFound

        client = eng.connect()
        removed = []
        for c in eng.labelled(client, release.app, release.target_name):
            events.step(f"removing container {c.name}")
            eng.remove(c)
            removed.append(f"container {c.name}")
        filters = {"label": [f"{eng.LABEL}.app={release.app}", f"{eng.LABEL}.target={release.target_name}"]}
        for network in client.networks.list(filters=filters):
            events.step(f"removing network {network.name}")
            try:
                network.remove()
            except NotFound:
                continue
            except APIError as exc:
                raise ProviderError(f"could not remove network {network.name}: {eng.api_error(exc)}") from None
            removed.append(f"network {network.name}")
        return removed
