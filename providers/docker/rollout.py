"""Docker target: deploy, rollback and destroy on the engine, through one `Session` per command.

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
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalectl.errors import DeployFailed, ProviderError, ScalectlError
from scalectl.provider import Plan, Release, Revision
from scalectl.redact import redact
from scalectl.rollout import bake_after, traffic_steps
from scalectl.wait import WaitTimeout, pause, poll_until

from . import api as eng
from .requests import (
    CAPTURE_CODE_DIR,
    Stamp,
    Upstream,
    api_key_map,
    base_labels,
    capture_body,
    capture_code,
    capture_dir,
    capture_key,
    capture_name,
    docker_target,
    gateway_body,
    gateway_key,
    gateway_name,
    network_body,
    nginx_conf,
    prefix,
    replica_body,
    replica_name,
    resolve_secret,
    url_of,
)

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

    from scalectl.events import Events

    from .schema import DockerTarget

from scalectl.metrics import gates_text, judge

REVISION_FIELDS = ("number", "digest", "image", "created_at", "created_by", "status", "message")


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
    holder: Container | None = None  # created, never started: keeps state.json when the gateway is lost
    capture: Container | None = None  # the capture sidecar (monitoring.capture)
    rebuilt: bool = False  # history came from replica labels alone (gateway and holder both lost)

    @classmethod
    def open(cls, release: Release) -> Session:
        client = eng.connect()
        found = eng.labelled(client, release.app, release.target_name)
        gateway = next((c for c in found if c.labels.get(f"{eng.LABEL}.role") == "gateway"), None)
        holder = next((c for c in found if c.labels.get(f"{eng.LABEL}.role") == "state"), None)
        replicas = [c for c in found if c.labels.get(f"{eng.LABEL}.role") == "replica"]
        sidecar = next((c for c in found if c.labels.get(f"{eng.LABEL}.role") == "capture"), None)
        state = (eng.read_state(holder) if holder is not None else None) or (
            eng.read_state(gateway) if gateway is not None else None
        )
        if state is None:
            marks = eng.promoted(client, release.app, release.target_name) if replicas else {}
            session = cls(client, release, state_from_labels(replicas, marks), gateway, replicas, holder, sidecar)
        else:
            session = cls(client, release, state, gateway, replicas, holder, sidecar)
        session.rebuilt = state is None and bool(replicas)
        return session

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
                entry["message"] = redact(message)

    def containers_of(self, number: int) -> list[Container]:
        return [c for c in self.replicas if c.labels.get(f"{eng.LABEL}.revision") == str(number)]

    def running_names(self, number: int) -> list[str]:
        """Names of the revision's running containers; one removed meanwhile (by hand, or a crash) is skipped."""
        from docker.errors import NotFound

        names = []
        for c in self.containers_of(number):
            try:
                c.reload()
            except NotFound:
                self.replicas.remove(c)
                continue
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
            network = self.client.networks.get(name)
        except NotFound:
            network = None
        if network is not None:
            self.require_ours(network.name, network.attrs.get("Labels") or {}, "network")
            return
        body = network_body(self.release)
        events.step(f"creating network {name}")
        try:
            self.client.api.create_network(
                body["Name"], driver=body["Driver"], check_duplicate=body["CheckDuplicate"], labels=body["Labels"]
            )
        except APIError as exc:
            raise ProviderError(f"could not create network {name}: {eng.api_error(exc)}") from None

    def remove_network(self) -> None:
        """Remove this target's network, and only when its labels say it is this app's and target's."""
        from docker.errors import APIError, NotFound

        with contextlib.suppress(NotFound, APIError):
            network = self.client.networks.get(prefix(self.release))
            if self.owns(network.attrs.get("Labels") or {}):
                network.remove()

    def owns(self, labels: dict[str, str]) -> bool:
        return (
            labels.get(f"{eng.LABEL}.app") == self.release.app
            and labels.get(f"{eng.LABEL}.target") == self.release.target_name
        )

    def require_ours(self, name: str, labels: dict[str, str], kind: str) -> None:
        """Names can collide (app `x-a` target `b` vs app `x` target `a-b`); labels cannot: refuse, touch nothing."""
        if self.owns(labels):
            return
        app, target = labels.get(f"{eng.LABEL}.app"), labels.get(f"{eng.LABEL}.target")
        owner = f"app {app!r} target {target!r}" if app else "something scalectl did not create"
        raise ProviderError(
            f"{kind} {name} already exists and belongs to {owner}, not app {self.release.app!r} target "
            f"{self.release.target_name!r}: the names collide. Rename the app or the target; nothing was changed"
        )

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

    def ensure_capture(self, events: Events) -> None:
        """The capture sidecar runs as configured (monitoring.capture), or is gone when capture is off.

        Started before the gateway's config names it; the gateway samples and falls back to the
        replicas when the sidecar does not answer, so capture never stops serving.
        """
        key = capture_key(self.release)
        current = self.capture
        if current is not None:
            current.reload()
            if key is not None and current.labels.get(f"{eng.LABEL}.capture_key") == key:
                if current.status != "running":
                    events.step(f"starting capture sidecar {current.name}")
                    eng.start(current, "no published port")
                    self.wait_capture(events)
                return
            events.step(
                f"removing capture sidecar {current.name}"
                + (" (monitoring.capture changed)" if key is not None else " (monitoring.capture is off)")
            )
            eng.remove(current)
            self.capture = None
        body = capture_body(self.release)
        folder = capture_dir(self.release)
        if body is None or folder is None:
            return
        self.require_image(self.target.capture_image, "capture_image", events)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProviderError(f"capture directory {folder} cannot be created: {exc.strerror}") from None
        name = capture_name(self.release)
        events.step(f"creating capture sidecar {name} -> {folder}")
        self.capture = eng.create_container(self.client, name, body)
        try:
            eng.put_files(self.capture, capture_code(), CAPTURE_CODE_DIR)
            eng.start(self.capture, "no published port")
            self.wait_capture(events)
        except ScalectlError:
            eng.remove(self.capture)
            self.capture = None
            raise

    def wait_capture(self, events: Events) -> None:
        """Until the sidecar says it listens; its log when it exits or never does."""
        sidecar = self.capture
        assert sidecar is not None

        def listening() -> str:
            sidecar.reload()
            if sidecar.status in ("exited", "dead"):
                raise ProviderError(f"capture sidecar {sidecar.name} exited: {eng.logs_tail(sidecar)[-400:]}")
            return str(sidecar.logs(stdout=False, stderr=True).decode(errors="replace"))

        try:
            poll_until(
                listening,
                lambda log: "listening on" in log,
                timeout=20,
                what=f"capture sidecar {sidecar.name} to listen",
                delay=lambda n: 0.05 if n < 20 else 0.25,
            )
        except WaitTimeout as exc:
            raise ProviderError(f"{exc.message}; its log: {eng.logs_tail(sidecar)[-400:]}") from None
        events.state(sidecar.name, "capturing")

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
        self.save_holder()

    def save_state(self) -> None:
        """Persist state.json only (no traffic change, no reload)."""
        if self.gateway is not None:
            eng.put_files(self.gateway, {"state.json": json.dumps(self.state, indent=2, sort_keys=True) + "\n"})
        self.save_holder()

    def save_holder(self) -> None:
        """Copy state.json into the state holder (created on first use), which outlives a removed gateway."""
        if self.holder is None:
            body = {
                "Image": self.target.gateway_image,
                "Cmd": ["true"],
                "Labels": base_labels(self.release, "state"),
                "HostConfig": {"NetworkMode": "none"},
            }
            self.holder = eng.create_container(self.client, f"{prefix(self.release)}-state", body)
        eng.put_files(self.holder, {"state.json": json.dumps(self.state, indent=2, sort_keys=True) + "\n"})

    def served_generation(self, timeout: float = 1.0) -> int | None:
        """The config generation the gateway answers with now; None when nothing answers."""
        t = self.target
        host = url_of(t).split("//", 1)[1].rsplit(":", 1)[0]
        return eng.gateway_generation(host, t.port, timeout)

    def wait_generation(self, generation: int, events: Events, timeout: float = 15) -> None:
        try:
            poll_until(
                self.served_generation,
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

    def start_replicas(self, stamp: Stamp, events: Events, indices: list[int] | None = None) -> list[Container]:
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
            for index in range(t.replicas) if indices is None else indices:
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

    def bake(
        self,
        number: int,
        seconds: float,
        events: Events,
        until: float,
        allow_idle: bool = False,
        previous: int | None = None,
    ) -> str | None:
        """Watch the new revision for `seconds`; the reason to roll back, or None when it held up.

        Every look: each replica's health route, then `scalectl.metrics.judge` on the new
        revision's figures from the gateway's access log since the bake began, against the
        `previous` revision's over the same time (rollout.max_error_rate, max_p99, max_p99_ratio).
        A bake that saw fewer than rollout.min_requests requests goes on until `until` (the
        rollout's deadline, monotonic); still too few then: a reason to roll back. With
        `allow_idle` (`deploy --allow-idle-bake`) the user has said no traffic will come: the bake
        keeps its length and promotes with a warning instead of waiting out the timeout.
        """
        from .metrics import AccessLog, revision_figures

        model = self.release.model
        rollout = self.target.rollout
        began_wall = time.time()
        began = time.monotonic()
        deadline = began + seconds
        extended = False
        events.step(f"baking revision {number} for {seconds:.0f}s ({gates_text(rollout, previous)})")
        log = AccessLog(self.gateway, began_wall) if self.gateway is not None else None
        with events.countdown(f"baking revision {number}") as tick:
            while True:
                for c in self.containers_of(number):
                    health = eng.probe(c, model.port, model.health)
                    if not health.ok:
                        health = eng.probe(c, model.port, model.health)  # one retry: a blip is not a failure
                    if not health.ok:
                        return (
                            f"{c.name} failed its health check during the bake (GET {model.health} -> {health.detail})"
                        )
                now = time.monotonic()
                entries = log.read() if log is not None else []
                new = revision_figures(entries, number, self.addresses(number), now - began)
                old = (
                    revision_figures(entries, previous, self.addresses(previous), now - began)
                    if previous is not None
                    else None
                )
                verdict = judge(rollout, new, old)
                if verdict.ok is False:
                    return verdict.reason
                total = new.requests
                idle = now >= deadline and total < rollout.min_requests and not allow_idle
                tick((until if idle else deadline) - now, verdict.figures)  # an idle bake waits for the timeout
                if now >= deadline:
                    if total >= rollout.min_requests:
                        return None
                    if allow_idle:
                        events.warn(
                            f"the bake saw {total} request(s) to revision {number}, fewer than rollout.min_requests "
                            f"({rollout.min_requests}): promoting anyway (--allow-idle-bake)"
                        )
                        return None
                    if now >= until:
                        why = (
                            f"the bake saw {total} request(s) to revision {number}, fewer than rollout.min_requests "
                            f"({rollout.min_requests}), before the rollout's timeout"
                        )
                        return f"{why}; not promoted unjudged (pass --allow-idle-bake to promote anyway)"
                    if not extended:
                        extended = True
                        events.warn(
                            f"the bake saw {total} of the {rollout.min_requests} requests it needs to judge revision "
                            f"{number}: baking on until the rollout's timeout"
                        )
                pause(min(0.5, max(0.05, min(deadline, until) - now if now < deadline else 0.5)))

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
        eng.remove_volume(self.client, self.marker(number))

    def marker(self, number: int) -> str:
        return f"{prefix(self.release)}-promoted-r{number}"

    def mark_promoted(self, number: int, events: Events) -> None:
        """Leave the marker volume that says `number` was promoted (see `state_from_labels`); the
        traffic has already moved, so a failure here is a warning, not a failed rollout."""
        labels = {
            f"{eng.LABEL}.app": self.release.app,
            f"{eng.LABEL}.target": self.release.target_name,
            f"{eng.LABEL}.role": "promoted",
            f"{eng.LABEL}.revision": str(number),
            f"{eng.LABEL}.promoted_at": f"{time.time():.6f}",
        }
        try:
            eng.mark_promoted(self.client, self.marker(number), labels)
        except ProviderError as exc:
            events.warn(f"revision {number} serves, but its promotion marker was not saved: {exc.message}")

    def prune(self, keep: int, events: Events) -> None:
        """Keep the active revision and the `keep` newest others warm; remove older containers."""
        active = self.active()
        numbers = sorted({int(c.labels[f"{eng.LABEL}.revision"]) for c in self.replicas}, reverse=True)
        good = {
            int(r["number"]) for r in self.revisions() if r.get("status") in ("active", "superseded", "rolled_back")
        }
        for number in [n for n in numbers if n != active and n not in good]:
            events.step(f"removing revision {number}'s containers (never finished its rollout)")
            self.discard(number, events)
        others = [n for n in numbers if n != active and n in good]
        for number in others[keep:]:
            events.step(f"removing revision {number}'s containers (keep_revisions: {keep})")
            self.discard(number, events)

    def warm(self, number: int) -> bool:
        return bool(self.running_names(number))

    def halted(self) -> list[int]:
        """Revisions whose rollout stopped on purpose mid-step (auto_rollback: false)."""
        return [int(r["number"]) for r in self.revisions() if r.get("status") == "pending" and r.get("halted")]

    def unfinished(self, halted: bool = False) -> list[int]:
        """Revisions an interrupted rollout left: pending in state.json, or containers history does not vouch for.

        A halted rollout counts only when `halted` (`rollback` undoes it; `status` and `deploy` do not).
        """
        status = {int(r["number"]): str(r.get("status")) for r in self.revisions()}
        numbers = {n for n, st in status.items() if st == "pending"} - (set() if halted else set(self.halted()))
        for c in self.replicas:
            try:
                n = int(c.labels.get(f"{eng.LABEL}.revision", ""))
            except ValueError:
                continue
            if status.get(n) in (None, "failed") or (status.get(n) == "pending" and (halted or n not in self.halted())):
                numbers.add(n)
        numbers.discard(self.active() or -1)
        return sorted(numbers)

    def split_left(self, halted: bool = False) -> bool:
        """Traffic is not wholly on the active revision (a rollout stopped between steps, not on purpose
        unless `halted`)."""
        active = self.active()
        traffic = {k: v for k, v in self.traffic().items() if v > 0}
        if not halted and set(traffic) & set(self.halted()):
            return False
        return active is not None and traffic != {active: 100}


def state_from_labels(replicas: list[Container], promoted: dict[int, float] | None = None) -> dict[str, Any]:
    """Rebuild history from replica labels when the gateway and the state holder are both gone.

    The active revision is the one promoted last (`promoted`: revision -> when, from the marker
    volumes); a running revision newer than it that was never promoted is an unbaked canary,
    pending (the next command removes it), never active. Without any marker (containers from
    before markers existed) the newest running revision is taken, as a problem says."""
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
    if promoted:
        known = [n for n in revisions if n in promoted]
        active = max(known, key=lambda n: promoted[n]) if known else None
        for number, entry in revisions.items():
            if number not in promoted and (active is None or number > active):
                entry["status"] = "pending"
                entry["message"] = "recovered from container labels: never promoted"
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


# ---------------------------------------------------------------- deploy, rollback, destroy


def deploy(plan: Plan, events: Events) -> Revision:
    """Start the new revision beside the old, wait healthy, move traffic step by step; undo on failure."""
    release = plan.release
    t = docker_target(release)
    deadline = time.monotonic() + plan.timeout
    session = Session.open(release)
    active = plan.live.active_revision
    if active is not None and active.digest == release.digest and session.active() == active.number:
        return repair(session, active.number, events)
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
        session.ensure_capture(events)
        session.ensure_gateway(events)
    except ScalectlError:
        if fresh:  # leave nothing behind when a first deploy could not even start its gateway
            if session.capture is not None:
                eng.remove(session.capture)
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

    for percent in traffic_steps(t.rollout, previous is not None):
        traffic = (
            {number: percent} if previous is None or percent == 100 else {number: percent, previous: 100 - percent}
        )
        try:
            session.switch(traffic, events)
            reason = None
            bake = bake_after(t.rollout, percent)
            if bake:
                remaining = deadline - time.monotonic()
                reason = session.bake(
                    number,
                    min(float(bake), max(0.0, remaining)),
                    events,
                    deadline,
                    plan.allow_idle_bake,
                    previous=previous if percent < 100 else None,
                )
                if reason is None and remaining < bake:
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
            (session.revision(number) or {})["halted"] = True  # stopped on purpose: only `rollback` undoes it
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
            f"revision {number} was rolled back automatically: {reason}. Revision {previous} serves 100% at {url_of(t)}"
        )

    session.state["active"] = number
    session.set_status(number, "active", "")
    session.mark_promoted(number, events)
    if previous is not None:
        session.set_status(previous, "superseded")
    for entry in session.revisions():
        if entry["status"] == "active" and int(entry["number"]) != number:
            entry["status"] = "superseded"
    session.prune(t.keep_revisions, events)
    session.save_state()
    return as_revision(session.revision(number) or revision.to_dict())


def repair(session: Session, number: int, events: Events) -> Revision:
    """Bring the serving revision back to what it was deployed as: gateway up, every replica healthy, 100% on it."""
    t = session.target
    model = session.release.model
    session.ensure_network(events)
    session.ensure_capture(events)
    session.ensure_gateway(events)
    for c in session.containers_of(number):
        health = eng.probe(c, model.port, model.health)
        if not health.ok:
            events.step(f"replacing {c.name} ({health.detail})")
            eng.remove(c)
            session.replicas.remove(c)
    present = {int(c.labels.get(f"{eng.LABEL}.index", "-1")) for c in session.containers_of(number)}
    missing = [i for i in range(t.replicas) if i not in present]
    entry = session.revision(number) or {}
    if missing:
        stamp = Stamp(number, str(entry.get("created_at", "")), str(entry.get("created_by", "")))
        events.step(f"starting {len(missing)} replica(s) of revision {number} again")
        started = session.start_replicas(stamp, events, missing)
        try:
            session.wait_healthy(started, float(t.startup_timeout), events)
        except HealthFailed as exc:
            raise DeployFailed(f"revision {number} could not be repaired: {exc.message}") from None
    session.switch({number: 100}, events)
    session.prune(t.keep_revisions, events)
    session.save_state()
    return as_revision(entry)


def recover(release: Release, events: Events) -> list[str]:
    """Undo what an interrupted rollout left: all traffic back on the active revision, the unfinished one removed."""
    session = Session.open(release)
    done: list[str] = []
    active = session.active()
    if session.split_left(halted=True) and active is not None:
        if session.gateway is not None and session.warm(active):
            session.ensure_gateway(events)
            session.switch({active: 100}, events)
        else:  # no gateway to reload: the one `deploy` recreates starts with this split
            session.state["traffic"] = {str(active): 100}
        done.append(f"traffic back on revision {active} (100%)")
    for number in session.unfinished(halted=True):
        session.discard(number, events)
        if session.revision(number) is not None:
            session.set_status(number, "failed", "interrupted; rolled back by the next command")
        done.append(f"removed unfinished revision {number}")
    if active is None and session.traffic():
        session.state["traffic"] = {}
        if session.gateway is not None:
            session.switch({}, events)
        done.append("no revision had finished a rollout: the gateway answers 503 until a deploy succeeds")
    session.save_state()
    return done


def rollback(release: Release, to: Revision, events: Events) -> Revision:
    """Switch the gateway back to `to`: one reload when it is warm, a cold start when its containers are gone."""
    t = docker_target(release)
    session = Session.open(release)
    session.ensure_network(events)
    session.ensure_capture(events)
    session.ensure_gateway(events)  # recreated from the state holder's history when it was removed
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
            f"revision {to.number} is not healthy ({exc.message}); traffic was not moved: {session.serving_sentence()}"
        ) from None
    session.switch({to.number: 100}, events)
    session.state["active"] = to.number
    session.set_status(to.number, "active", f"rolled back from revision {current}")
    session.mark_promoted(to.number, events)
    if current is not None and current != to.number:
        session.set_status(current, "rolled_back")
    session.prune(t.keep_revisions, events)
    session.save_state()
    return as_revision(session.revision(to.number) or to.to_dict())


def destroy(release: Release, events: Events) -> list[str]:
    """Every container and network labelled with this app and target."""
    from docker.errors import APIError, NotFound

    client = eng.connect()
    removed = []
    for c in eng.labelled(client, release.app, release.target_name):
        events.step(f"removing container {c.name}")
        eng.remove(c)
        removed.append(f"container {c.name}")
    filters = {"label": [f"{eng.LABEL}.app={release.app}", f"{eng.LABEL}.target={release.target_name}"]}
    for volume in client.volumes.list(filters=filters):  # promotion markers
        if eng.remove_volume(client, volume.name):
            removed.append(f"volume {volume.name}")
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
