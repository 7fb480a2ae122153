"""`provider: docker`: replicas of the model container behind an nginx gateway on one machine.

The Provider wiring: offline checks in `checks`, bodies and names in `requests`, the work
on the engine in `rollout`. Reading the engine (`observe`) and planning happen here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scalectl.errors import Diagnostic
from scalectl.metrics import RevisionMetrics
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.rollout import steps_text, traffic_steps

from . import api as eng
from . import checks, images, rollout
from . import metrics as figures
from .requests import (
    Stamp,
    Upstream,
    capture_body,
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
    url_of,
)

if TYPE_CHECKING:
    from scalectl.config import ScaleFile
    from scalectl.events import Events


@dataclass(frozen=True)
class ReplicaSeen:
    """One replica container as `observe` found it."""

    name: str
    revision: int
    state: str  # the container's status: running, exited, ...
    health: str  # "healthy" or "unhealthy (<why>)"
    gpus: str


@dataclass(frozen=True)
class GatewaySeen:
    """The gateway container as `observe` found it."""

    name: str
    state: str
    image: str
    listen: str  # host:port from its labels
    gateway_key: str | None  # what it was created with; a different key means recreate
    generation: int | None = None  # config generation it answers with (None: does not answer)
    expected: int = 0  # the generation state.json says it should serve


@dataclass(frozen=True)
class CaptureSeen:
    """The capture sidecar as `observe` found it."""

    name: str
    state: str
    capture_key: str | None  # what it was created with; a different key means recreate
    destination: str


@dataclass
class DockerObserved:
    """What `observe` hands `plan`: the gateway, the replicas and the capture sidecar on the engine."""

    gateway: GatewaySeen | None
    replicas: list[ReplicaSeen]
    capture: CaptureSeen | None = None

    @property
    def warm_revisions(self) -> list[int]:
        """Revisions with a running replica: a rollback to them is one gateway reload."""
        return sorted({r.revision for r in self.replicas if r.state == "running"})


class DockerProvider:
    """Provider for `provider: docker` targets on the engine DOCKER_HOST names."""

    name = "docker"

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        return checks.check(spec, target, base_dir) + images.missing_images(spec, target, base_dir)

    def render(self, release: Release) -> dict[str, str]:
        t = docker_target(release)
        stamp = Stamp()
        files = {
            "network.json": json.dumps(network_body(release), indent=2) + "\n",
            "gateway.json": json.dumps(gateway_body(release), indent=2) + "\n",
        }
        capture = capture_body(release)
        if capture is not None:
            files["capture.json"] = json.dumps(capture, indent=2) + "\n"
        for index in range(t.replicas):
            files[f"replica-{index}.json"] = json.dumps(replica_body(release, stamp, index), indent=2) + "\n"
        servers = [replica_name(release, stamp.revision, i) for i in range(t.replicas)]
        files["nginx.conf"] = nginx_conf(release, [Upstream(stamp.revision, 100, release.model.image, servers)], 1)
        return files

    def observe(self, release: Release) -> Live:
        session = rollout.Session.open(release)
        if session.gateway is None and not session.replicas:
            return Live(exists=False, observed=DockerObserved(None, []))
        t = session.target
        model = release.model
        replicas = []
        for c in session.replicas:
            health = eng.probe(c, model.port, model.health, timeout=0.5)
            requests = c.attrs.get("HostConfig", {}).get("DeviceRequests") or []
            gpus = [",".join(r.get("DeviceIDs") or []) or f"count {r.get('Count')}" for r in requests]
            replicas.append(
                ReplicaSeen(
                    name=c.name,
                    revision=int(c.labels.get(f"{eng.LABEL}.revision", "0")),
                    state=c.status,
                    health="healthy" if health.ok else f"unhealthy ({health.detail})",
                    gpus=gpus[0] if gpus else "none",
                )
            )
        gateway = None
        if session.gateway is not None:
            labels = session.gateway.labels
            gateway = GatewaySeen(
                name=session.gateway.name,
                state=session.gateway.status,
                image=t.gateway_image,
                listen=f"{labels.get(f'{eng.LABEL}.host')}:{labels.get(f'{eng.LABEL}.port')}",
                gateway_key=session.gateway.labels.get(f"{eng.LABEL}.gateway_key"),
                generation=session.served_generation(0.5) if session.gateway.status == "running" else None,
                expected=int(session.state.get("generation", 0)),
            )
        sidecar = None
        if session.capture is not None:
            labels = session.capture.labels
            sidecar = CaptureSeen(
                session.capture.name,
                session.capture.status,
                labels.get(f"{eng.LABEL}.capture_key"),
                labels.get(f"{eng.LABEL}.destination", ""),
            )
        seen = DockerObserved(gateway, replicas, sidecar)
        unfinished = [
            f"revision {n} was left {(session.revision(n) or {}).get('status', 'unrecorded')} by an interrupted rollout"
            for n in session.unfinished()
        ]
        if session.split_left():
            unfinished.append(f"traffic is split mid-rollout ({rollout.split_text(session.traffic())})")
        halted = [
            f"revision {n}'s rollout was halted at {session.traffic().get(n, 0)}% (auto_rollback: false): "
            f"`scalectl rollback` undoes it"
            for n in session.halted()
        ]
        problems = unfinished + halted
        if gateway is None:
            problems.append(f"the gateway container is gone: nothing answers at {url_of(t)}")
        elif gateway.state != "running":
            problems.append(f"the gateway {gateway.name} is {gateway.state}: nothing answers at {url_of(t)}")
        elif gateway.generation != gateway.expected:
            problems.append(drift(gateway, url_of(t)))
        active = session.active()
        if active is not None:
            healthy = [r for r in replicas if r.revision == active and r.state == "running" and r.health == "healthy"]
            if len(healthy) < t.replicas:
                problems.append(f"revision {active}: {len(healthy)} of {t.replicas} replica(s) running and healthy")
        problems += capture_problems(release, sidecar)
        if session.rebuilt:
            problems.append("history was rebuilt from container labels (the gateway's state was lost)")
        return Live(
            exists=True,
            revisions=[rollout.as_revision(r) for r in session.revisions()],
            active=session.active(),
            traffic=session.traffic(),
            url=url_of(t),
            details={
                "gateway": asdict(gateway) if gateway is not None else None,
                "replicas": [asdict(r) for r in replicas],
                "warm_revisions": seen.warm_revisions,
                **({"capture": asdict(sidecar) if sidecar else "missing"} if sidecar or capture_key(release) else {}),
            },
            observed=seen,
            problems=problems,
            unfinished=unfinished,
            halted=halted,
        )

    def plan(self, release: Release, live: Live) -> list[Change]:
        t = docker_target(release)
        model = release.model
        seen = live.observed_as(DockerObserved)
        active = live.active_revision
        if active is not None and active.digest == release.digest:
            return self.repairs(release, live, seen, active.number)
        gpus = (
            f", gpus {t.gpus}" + (f" ({t.gpus_per_replica} per replica)" if t.gpus_per_replica else "")
            if t.gpus
            else ""
        )
        changes: list[Change] = []
        gateway = seen.gateway
        if not live.exists:
            changes.append(Change("create", f"network {prefix(release)}", "bridge"))
        if gateway is None:
            missing = "" if images.image_present(t.gateway_image) is not False else " (not on this engine: pulled)"
            changes.append(
                Change("create", f"gateway {gateway_name(release)}", f"{t.gateway_image}{missing} on {t.host}:{t.port}")
            )
        elif gateway.gateway_key != gateway_key(release):
            changes.append(
                Change(
                    "update", f"gateway {gateway_name(release)}", f"recreate on {t.host}:{t.port} ({t.gateway_image})"
                )
            )
        changes += capture_changes(release, seen.capture)
        # after a rollback, the newer revision's containers stay warm; a deploy still rolls out a new
        # revision through the rollout's steps and bakes (the warm one was rolled back from)
        same = [
            r.number
            for r in live.revisions
            if r.digest == release.digest and r.number != live.active and r.number in seen.warm_revisions
        ]
        if same:
            changes.append(
                Change(
                    "keep",
                    f"revision {max(same)}: {t.replicas} warm replica(s) of this config",
                    f"`scalectl rollback --to {max(same)}` switches back to them in about a second, without a rollout",
                )
            )
        if model.build:
            changes.append(Change("create", f"image {model.image}", f"built from {model.build}"))
        elif images.image_present(model.image) is False:
            changes.append(
                Change(
                    "create",
                    f"image {model.image}",
                    "not on this engine: pulled (build it first, or set model.build: ./DIR)",
                )
            )
        changes.append(
            Change(
                "create",
                f"{t.replicas} replica(s) of {model.image}",
                f"port {model.port}, health {model.health}{gpus}",
            )
        )
        steps = traffic_steps(t.rollout, live.active is not None)
        how = steps_text(steps)
        if len(steps) > 1:
            how += f", baking {t.rollout.bake}s per step"
        changes.append(Change("update", "gateway traffic", f"new revision takes {how}"))
        if live.active is not None:
            changes.append(Change("keep", f"revision {live.active}", "stays running (warm) for fast rollback"))
        warm = [r for r in seen.warm_revisions if r != live.active]
        drop = sorted(warm, reverse=True)[max(0, t.keep_revisions - 1) :] if live.active is not None else []
        for number in sorted(drop):
            changes.append(
                Change("delete", f"revision {number} containers", f"beyond keep_revisions: {t.keep_revisions}")
            )
        return changes

    def repairs(self, release: Release, live: Live, seen: DockerObserved, active: int) -> list[Change]:
        """Same config as the serving revision: what differs from it as deployed (drift), or keep."""
        t = docker_target(release)
        changes = [Change("delete", line.split(" was ")[0], line) for line in live.unfinished if line.startswith("rev")]
        gateway = seen.gateway
        if gateway is None:
            changes.append(Change("create", f"gateway {gateway_name(release)}", f"gone; recreate on {t.host}:{t.port}"))
        elif gateway.gateway_key != gateway_key(release):
            changes.append(
                Change("update", f"gateway {gateway.name}", f"recreate on {t.host}:{t.port} ({t.gateway_image})")
            )
        elif gateway.state != "running":
            changes.append(Change("update", f"gateway {gateway.name}", f"{gateway.state}; start it"))
        elif gateway.generation != gateway.expected:
            changes.append(Change("update", f"gateway {gateway.name} configuration", drift(gateway, url_of(t))))
        changes += capture_changes(release, seen.capture)
        healthy = [r for r in seen.replicas if r.revision == active and r.state == "running" and r.health == "healthy"]
        if len(healthy) < t.replicas:
            sick = ", ".join(
                f"{r.name} {r.state} {r.health}" for r in seen.replicas if r.revision == active and r not in healthy
            )
            changes.append(
                Change(
                    "update",
                    f"revision {active} replicas",
                    f"{len(healthy)} of {t.replicas} healthy; replace the rest" + (f" ({sick})" if sick else ""),
                )
            )
        if live.traffic != {active: 100}:
            changes.append(
                Change("update", "gateway traffic", f"{rollout.split_text(live.traffic)} -> rev {active}: 100%")
            )
        if not changes:
            return [Change("keep", f"revision {active}", "already running this config")]
        return changes

    def metrics(self, release: Release, live: Live, window: float) -> list[RevisionMetrics]:
        """Figures of the serving revisions over the last `window` seconds: the gateway's access log
        (requests, latency, 4xx/5xx), `observe`'s health probes (ready replicas), docker stats (CPU, memory)."""
        import time
        from concurrent.futures import ThreadPoolExecutor

        if not live.exists:
            return []
        session = rollout.Session.open(release)
        t = session.target
        numbers = sorted(n for n, p in live.traffic.items() if p > 0)
        seen = live.observed if isinstance(live.observed, DockerObserved) else DockerObserved(None, [])
        containers = [c for n in numbers for c in session.containers_of(n)]
        with ThreadPoolExecutor(max_workers=1) as pool:
            sampled = pool.submit(figures.usage, containers)  # about a second: beside the log read
            since = time.time() - window
            entries = figures.AccessLog(session.gateway, since).read() if session.gateway is not None else []
            use = sampled.result()
        out = []
        for n in numbers:
            m = figures.revision_figures(entries, n, session.addresses(n), window)
            m.replicas_desired = t.replicas
            m.replicas_ready = sum(
                1 for r in seen.replicas if r.revision == n and r.state == "running" and r.health == "healthy"
            )
            mine = [use.get(c.name, (None, None)) for c in session.containers_of(n)]
            m.cpu_percent = figures.mean([u[0] for u in mine])
            m.memory_percent = figures.mean([u[1] for u in mine])
            m.notes = list(figures.NOTES)
            out.append(m)
        return out

    def recover(self, release: Release, live: Live, events: Events) -> list[str]:
        return rollout.recover(release, events)

    def apply(self, plan: Plan, events: Events) -> Revision:
        return rollout.deploy(plan, events)

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        return rollout.rollback(release, to, events)

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        return rollout.destroy(release, events)


def capture_problems(release: Release, sidecar: CaptureSeen | None) -> list[str]:
    """monitoring.capture is on but its sidecar does not run: sampled calls are served, not captured."""
    if capture_key(release) is None:
        return []
    name = capture_name(release)
    if sidecar is None:
        return [f"the capture sidecar {name} is gone: calls are served but not captured"]
    if sidecar.state != "running":
        return [f"the capture sidecar {name} is {sidecar.state}: calls are served but not captured"]
    return []


def capture_changes(release: Release, sidecar: CaptureSeen | None) -> list[Change]:
    """What the capture sidecar needs: created, recreated (settings changed), started, or removed (capture off)."""
    t = docker_target(release)
    cap = t.monitoring.capture
    key = capture_key(release)
    name = capture_name(release)
    if cap is None or key is None:
        return [Change("delete", f"capture sidecar {sidecar.name}", "monitoring.capture is off")] if sidecar else []
    what = f"{cap.percent:g}% of calls to {capture_dir(release)}, files rotated at {cap.max_file_mb} MB"
    if sidecar is None:
        return [Change("create", f"capture sidecar {name}", f"{what} ({t.capture_image})")]
    if sidecar.capture_key != key:
        return [Change("update", f"capture sidecar {name}", f"recreate: {what}")]
    if sidecar.state != "running":
        return [Change("update", f"capture sidecar {name}", f"{sidecar.state}; start it")]
    return []


def drift(gateway: GatewaySeen, url: str) -> str:
    """Why a running gateway is not serving the configuration scalectl last gave it."""
    if gateway.generation is None:
        return f"the gateway {gateway.name} runs but does not answer at {url}"
    return (
        f"the gateway {gateway.name} serves configuration generation {gateway.generation}, not "
        f"{gateway.expected}: rewrite and reload it"
    )
