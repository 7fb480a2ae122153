"""Deploy, rollback and destroy on a cluster: per-revision Deployments, traffic by HTTPRoute
weights (Gateway API) or by replica ratio behind the shared Service.

History is the Deployments themselves: labels carry revision, digest and status, annotations
the image, who and when, so `observe` from any machine reads the same revisions. Superseded
revisions stay scaled (`keep_revisions`) so a rollback is a weight flip, or a scale-up when
traffic is split by replicas.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from scalectl.errors import DeployFailed, Interrupted, ScalectlError, UsageError
from scalectl.events import Events
from scalectl.provider import Plan, Release, Revision
from scalectl.rollout import bake_after, traffic_steps
from scalectl.wait import backoff, pause, poll_until

from .api import Cluster
from .requests import (
    CREATED_AT,
    CREATED_BY,
    DIGEST,
    IMAGE,
    MESSAGE,
    REPLICAS,
    REVISION,
    SPOT_NODES,
    STATUS,
    Routing,
    Stamp,
    deployment,
    hpa,
    httproute,
    k8s_target,
    owner_labels,
    pdb,
    replicas_for,
    revision_name,
    revision_service,
    selector,
    split_replicas,
    stable_service,
)

KINDS_OWNED = ("HTTPRoute", "HorizontalPodAutoscaler", "Service", "PodDisruptionBudget", "Deployment")


@dataclass(frozen=True)
class RevisionSeen:
    """One revision's Deployment as the cluster reports it."""

    number: int
    name: str
    digest: str
    image: str
    status: str
    created_at: str
    created_by: str
    message: str
    replicas: int  # desired now
    ready: int
    kept_replicas: int  # what it runs with when serving (annotation), for rollback
    stalled: str  # Progressing=False message, "" while fine

    def as_revision(self) -> Revision:
        status = (
            self.status if self.status in ("pending", "active", "superseded", "failed", "rolled_back") else "pending"
        )
        return Revision(self.number, self.digest, self.image, self.created_at, self.created_by, status, self.message)  # type: ignore[arg-type]


@dataclass
class KubeObserved:
    """What `observe` hands plan/apply/rollback/destroy."""

    routing: Routing
    revisions: list[RevisionSeen]
    weights: dict[int, int] | None  # HTTPRoute weights by revision; None: no route
    has_service: bool
    has_pdb: bool
    hpas: dict[int, dict[str, Any]] = field(default_factory=dict)

    def revision(self, number: int | None) -> RevisionSeen | None:
        return next((r for r in self.revisions if r.number == number), None)

    def traffic(self) -> dict[int, int]:
        """Percent per revision: route weights, else each revision's share of the Service's ready pods."""
        if self.routing == "gateway" and self.weights is not None:
            total = sum(self.weights.values())
            return {n: round(100 * w / total) for n, w in self.weights.items() if w > 0} if total else {}
        serving = {r.number: r.replicas for r in self.revisions if r.replicas > 0 and r.status != "failed"}
        total = sum(serving.values())
        return {n: round(100 * c / total) for n, c in serving.items()} if total else {}

    def active(self) -> int | None:
        marked = [r.number for r in self.revisions if r.status == "active"]
        if marked:
            return marked[-1]
        traffic = self.traffic()
        return max(traffic, key=lambda n: (traffic[n], n)) if traffic else None


def routing_for(cluster: Cluster, release: Release, events: Events | None = None) -> Routing:
    """HTTPRoute weights when the target names a Gateway and the cluster serves Gateway API."""
    t = k8s_target(release)
    if t.gateway is None:
        return "replicas"
    if cluster.serves_gateway_api():
        return "gateway"
    if events is not None:
        events.warn("the cluster does not serve gateway.networking.k8s.io/v1: splitting traffic by replica ratio")
    return "replicas"


def snapshot(cluster: Cluster, release: Release, routing: Routing) -> KubeObserved:
    mine = selector(owner_labels(release))
    revisions = sorted((_seen(d) for d in cluster.find("Deployment", mine)), key=lambda r: r.number)
    hpas = {int(h["metadata"]["labels"].get(REVISION, 0)): h for h in cluster.find("HorizontalPodAutoscaler", mine)}
    services = {s["metadata"]["name"] for s in cluster.find("Service", mine)}
    weights: dict[int, int] | None = None
    if routing == "gateway":
        routes = cluster.find("HTTPRoute", mine)
        if routes:
            by_name = {r.name: r.number for r in revisions}
            weights = {}
            for rule in routes[0].get("spec", {}).get("rules", []):
                for ref in rule.get("backendRefs", []):
                    if ref.get("name") in by_name:
                        weights[by_name[ref["name"]]] = int(ref.get("weight", 1))
    from .requests import prefix

    has_pdb = cluster.get("PodDisruptionBudget", prefix(release)) is not None if revisions else False
    return KubeObserved(routing, revisions, weights, prefix(release) in services, has_pdb, hpas)


def _seen(d: dict[str, Any]) -> RevisionSeen:
    meta, spec, status = d["metadata"], d.get("spec", {}), d.get("status", {})
    labels, notes = meta.get("labels", {}), meta.get("annotations", {})
    stalled = next(
        (
            str(c.get("message") or c.get("reason"))
            for c in status.get("conditions", [])
            if c.get("type") == "Progressing" and c.get("status") == "False"
        ),
        "",
    )
    return RevisionSeen(
        number=int(labels.get(REVISION, 0)),
        name=meta["name"],
        digest=labels.get(DIGEST, ""),
        image=notes.get(IMAGE, ""),
        status=labels.get(STATUS, "pending"),
        created_at=notes.get(CREATED_AT, ""),
        created_by=notes.get(CREATED_BY, ""),
        message=notes.get(MESSAGE, ""),
        replicas=int(spec.get("replicas", 1)),
        ready=int(status.get("readyReplicas") or 0),
        kept_replicas=int(notes.get(REPLICAS, spec.get("replicas", 1)) or 1),
        stalled=stalled,
    )


# ---------------------------------------------------------------- plain words for failing pods

_REASONS = {
    "Unhealthy": "the readiness or liveness probe fails",
    "BackOff": "the container keeps crashing and is restarted with back-off",
    "ErrImagePull": "the image cannot be pulled",
    "ImagePullBackOff": "the image cannot be pulled",
    "Failed": "the container failed to start",
    "FailedScheduling": "the pod cannot be placed on any node",
    "FailedMount": "the model volume cannot be mounted",
}


def plain(event: dict[str, Any]) -> str:
    """One Warning event in words a user acts on (OOMKilled, no GPU, image pull)."""
    reason, message = str(event.get("reason", "")), str(event.get("message", ""))
    pod = event.get("involvedObject", {}).get("name", "")
    if "pull image" in message or "pulling image" in message or reason in ("ErrImagePull", "ImagePullBackOff"):
        what = "the image cannot be pulled: check its name and tag, and the cluster's registry credentials"
    elif "OOMKilled" in message:
        what = "the container ran out of memory (OOMKilled): raise resources.memory_limit"
    elif reason == "FailedScheduling" and "nvidia.com/gpu" in message:
        what = "Pending: no node has a free GPU (nvidia.com/gpu); add GPU nodes or lower gpus"
    elif reason == "FailedScheduling":
        what = "Pending: no node fits the pod's requests, affinity or taints"
    else:
        what = _REASONS.get(reason, reason or "warning")
    return f"pod {pod}: {what} ({message})"


def capacity_types(cluster: Cluster, release: Release) -> dict[int, str]:
    """Per revision, how many of its pods run on spot and on on-demand nodes, read from node labels."""
    pods = cluster.find("Pod", selector(owner_labels(release)))
    if not pods:
        return {}
    nodes = cluster.node_labels()
    if nodes is None:
        return {n: "unknown (no right to list nodes)" for n in {_revision_of(p) for p in pods}}
    counts: dict[int, dict[str, int]] = {}
    for pod in pods:
        labels = nodes.get(str(pod.get("spec", {}).get("nodeName", "")), {})
        spot = any(labels.get(key, "").lower() == value.lower() for key, value, _ in SPOT_NODES.values())
        kind = "spot" if spot else ("on-demand" if labels else "unscheduled")
        per = counts.setdefault(_revision_of(pod), {})
        per[kind] = per.get(kind, 0) + 1
    return {n: ", ".join(f"{c} {k}" for k, c in sorted(per.items())) for n, per in counts.items()}


def _revision_of(pod: dict[str, Any]) -> int:
    return int(pod.get("metadata", {}).get("labels", {}).get(REVISION, 0))


def failing_events(cluster: Cluster, name: str) -> list[str]:
    return [plain(e) for e in cluster.events_for(f"{name}-")][-5:]


# ---------------------------------------------------------------- one rollout


class Rollout:
    """The work of one deploy or rollback: its cluster, release and deadline."""

    def __init__(self, cluster: Cluster, release: Release, events: Events, timeout: float) -> None:
        self.cluster = cluster
        self.release = release
        self.t = k8s_target(release)
        self.events = events
        self.deadline = time.monotonic() + timeout

    def remaining(self) -> float:
        return max(0.1, self.deadline - time.monotonic())

    def scale(self, number: int, replicas: int) -> None:
        self.cluster.patch("Deployment", revision_name(self.release, number), {"spec": {"replicas": replicas}})

    def mark(self, number: int, status: str, message: str | None = None) -> None:
        patch: dict[str, Any] = {"metadata": {"labels": {STATUS: status}}}
        if message is not None:
            patch["metadata"]["annotations"] = {MESSAGE: message[:1000]}
        self.cluster.patch("Deployment", revision_name(self.release, number), patch)

    def route(self, weights: dict[int, int]) -> None:
        self.cluster.apply(httproute(self.release, weights))
        self.events.state("HTTPRoute", ", ".join(f"r{n} {w}%" for n, w in sorted(weights.items())))

    def wait_ready(self, number: int, want: int) -> None:
        """Readiness gate: every wanted pod ready, or fail at once on ProgressDeadlineExceeded."""
        name = revision_name(self.release, number)
        timeout = min(self.remaining(), float(self.t.startup_timeout))

        def ready(d: dict[str, Any] | None) -> bool:
            if d is None:
                raise DeployFailed(f"Deployment {name} disappeared during the rollout")
            seen = _seen(d)
            self.events.state(f"Deployment {name}", f"{seen.ready}/{want} ready")
            if seen.stalled:
                raise DeployFailed(self._why(name, f"its pods did not become ready in time ({seen.stalled})"))
            observed = int(d.get("status", {}).get("observedGeneration") or 0)
            return observed >= int(d["metadata"].get("generation", 1)) and seen.ready >= want

        try:
            poll_until(
                lambda: self.cluster.get("Deployment", name),
                ready,
                timeout=timeout,
                what=f"{name} to have {want} ready pod(s)",
                delay=backoff(initial=0.05, factor=1.5, maximum=5.0),
            )
        except DeployFailed:
            raise
        except ScalectlError as exc:
            raise DeployFailed(self._why(name, exc.message)) from None

    def _why(self, name: str, what: str) -> str:
        found = failing_events(self.cluster, name)
        return what + ("; " + "; ".join(found) if found else "")

    def restarts(self, number: int) -> int:
        labels = selector({**owner_labels(self.release), REVISION: str(number)})
        pods = self.cluster.find("Pod", labels)
        return sum(
            int(c.get("restartCount", 0)) for p in pods for c in p.get("status", {}).get("containerStatuses", [])
        )

    def bake(self, number: int, want: int, seconds: float) -> None:
        """Watch ready replicas and container restarts for `seconds`; any loss fails the step."""
        if seconds <= 0:
            return
        name = revision_name(self.release, number)
        self.events.step(f"baking revision {number} for {seconds:.0f}s")
        start_restarts = self.restarts(number)
        end = time.monotonic() + min(seconds, self.remaining())
        delay = backoff(initial=min(1.0, seconds / 4), factor=1.5, maximum=10.0)
        n = 0
        while True:
            d = self.cluster.get("Deployment", name)
            seen = _seen(d) if d else None
            if seen is None or seen.ready < want:
                ready = seen.ready if seen else 0
                raise DeployFailed(self._why(name, f"revision {number} lost ready pods while baking ({ready}/{want})"))
            restarts = self.restarts(number)
            if restarts > start_restarts:
                raise DeployFailed(
                    self._why(
                        name,
                        f"revision {number}'s containers restarted {restarts - start_restarts} time(s) while baking",
                    )
                )
            left = end - time.monotonic()
            if left <= 0:
                return
            pause(min(delay(n), left))
            n += 1

    def autoscale(self, serving: int, previous: int | None, seen: KubeObserved) -> None:
        """The HPA follows the serving revision; the one it replaced stops scaling."""
        self.cluster.apply(hpa(self.release, serving))
        for number in seen.hpas:
            if number != serving:
                self.cluster.delete("HorizontalPodAutoscaler", revision_name(self.release, number))
        if previous is not None and previous not in seen.hpas and previous != serving:
            self.cluster.delete("HorizontalPodAutoscaler", revision_name(self.release, previous))


def deploy(cluster: Cluster, plan: Plan, events: Events) -> Revision:
    """New revision beside the old, gated by readiness at every traffic step; undone on failure."""
    release, rev = plan.release, plan.revision
    t = k8s_target(release)
    seen = plan.live.observed_as(KubeObserved)
    routing = seen.routing
    work = Rollout(cluster, release, events, plan.timeout)
    prev = seen.revision(plan.live.active)
    if prev is not None and prev.ready == 0:
        prev = None  # nothing serves: no split to make
    steps = traffic_steps(t.rollout, prev is not None)
    total = replicas_for(t)
    old_total = prev.replicas if prev is not None else 0
    number = rev.number

    events.step(f"revision {number}: traffic by {'HTTPRoute weights' if routing == 'gateway' else 'replica ratio'}")
    cluster.apply(stable_service(release))  # also when capture is turned on or off (its targetPort)
    if not seen.has_pdb:
        cluster.apply(pdb(release))
    first = total if routing == "gateway" else split_replicas(max(total, old_total), steps[0])[0]
    cluster.create(deployment(release, Stamp(number, rev.created_at, rev.created_by, "pending"), replicas=first))
    if routing == "gateway":
        cluster.apply(revision_service(release, number))
    try:
        work.wait_ready(number, first)
        for percent in steps:
            if routing == "gateway":
                work.route({number: percent, **({prev.number: 100 - percent} if prev is not None else {})})
                want = total
            else:
                new, old = split_replicas(max(total, old_total), percent)
                if new != first:
                    work.scale(number, new)
                    work.wait_ready(number, new)
                if prev is not None:
                    work.scale(prev.number, old)
                events.state("Service", f"r{number} {new} pod(s)" + (f", r{prev.number} {old} pod(s)" if prev else ""))
                want = new
            events.step(f"revision {number} takes {percent}% of traffic")
            work.bake(number, want, bake_after(t.rollout, percent))
    except (ScalectlError, KeyboardInterrupt) as exc:
        # Ctrl-C or a cancelled CI job: put the previous revision back before anything else
        why = exc.message if isinstance(exc, ScalectlError) else "interrupted"
        _undo(work, seen, number, prev, why)
        serving = f"revision {prev.number} still serves 100% of traffic" if prev else "nothing was serving before"
        if isinstance(exc, Interrupted):  # rolled back here: the command still exits 130/143, saying so
            exc.message = f"revision {number} was rolled back and parked at 0 pods, marked failed; {serving}"
            raise
        raise DeployFailed(f"revision {number} failed and was rolled back ({why}); {serving}") from None

    work.mark(number, "active")
    work.autoscale(number, prev.number if prev else None, seen)
    if prev is not None:
        work.mark(prev.number, "superseded")
    for earlier in seen.revisions:
        if earlier.status == "active" and (prev is None or earlier.number != prev.number):
            work.mark(earlier.number, "superseded")
    _prune(work, seen, number)
    return Revision(**{**rev.to_dict(), "status": "active"})


def _undo(work: Rollout, seen: KubeObserved, number: int, prev: RevisionSeen | None, why: str) -> None:
    """Put the previous revision back in front, then park the failed one at 0 replicas, marked failed."""
    work.events.warn(f"revision {number} failed: {why}; rolling back")
    if prev is not None:
        if seen.routing == "gateway":
            work.route({prev.number: 100})
        else:
            work.scale(prev.number, prev.replicas)
            work.wait_ready(prev.number, prev.replicas)
    work.scale(number, 0)
    work.mark(number, "failed", why)
    if seen.routing == "gateway":
        work.cluster.delete("Service", revision_name(work.release, number))


def unfinished(seen: KubeObserved) -> list[RevisionSeen]:
    """Revisions a rollout created and never finished (still pending, newer than the active one):
    what a SIGKILLed or crashed deploy leaves holding pods or route weight."""
    active = seen.active()
    return [r for r in seen.revisions if r.status == "pending" and (active is None or r.number > active)]


def recover(cluster: Cluster, release: Release, seen: KubeObserved, events: Events) -> list[str]:
    """Undo what an interrupted rollout left: the active revision back in front, the unfinished ones
    parked at 0 pods and marked failed (as a rollout that fails does)."""
    t = k8s_target(release)
    work = Rollout(cluster, release, events, float(t.startup_timeout))
    prev = seen.revision(seen.active())
    done: list[str] = []
    for r in unfinished(seen):
        _undo(work, seen, r.number, prev, "interrupted: rolled back by the next command")
        done.append(f"removed unfinished revision {r.number} (parked at 0 pods, marked failed)")
    if prev is not None and done:
        done.insert(0, f"traffic back on revision {prev.number} (100%)")
    return done


def _prune(work: Rollout, seen: KubeObserved, serving: int) -> None:
    """Keep `keep_revisions` earlier revisions warm (gateway) or parked at 0 (replicas); older ones at 0."""
    warm = [r for r in sorted(seen.revisions, key=lambda r: -r.number) if r.number != serving and r.status != "failed"]
    keep = work.t.keep_revisions if seen.routing == "gateway" else 0
    for r in warm[keep:]:
        if r.replicas > 0:
            work.scale(r.number, 0)
        if seen.routing == "gateway":
            work.cluster.delete("Service", revision_name(work.release, r.number))


def rollback(
    cluster: Cluster, release: Release, seen: KubeObserved, current: int | None, to: Revision, events: Events
) -> Revision:
    """Scale `to` back up if it was parked, wait ready, put it in front, stop the current one."""
    t = k8s_target(release)
    target = seen.revision(to.number)
    if target is None:
        raise UsageError(f"revision {to.number}'s Deployment is gone from the cluster; deploy its config again")
    work = Rollout(cluster, release, events, float(t.startup_timeout))
    want = target.kept_replicas
    if target.replicas < want:
        events.step(f"scaling revision {to.number} back to {want} pod(s)")
        work.scale(to.number, want)
    work.wait_ready(to.number, want)
    if seen.routing == "gateway":
        cluster.apply(revision_service(release, to.number))
        work.route({to.number: 100})
    elif current is not None:
        work.scale(current, 0)
    work.mark(to.number, "active", "")
    work.autoscale(to.number, current, seen)
    if current is not None and current != to.number:
        work.mark(current, "rolled_back")
    return Revision(**{**to.to_dict(), "status": "active"})


def destroy(cluster: Cluster, release: Release, routing: Routing, events: Events) -> list[str]:
    """Delete only what carries this app's and target's labels, route first so no request hits a gap."""
    mine = selector(owner_labels(release))
    removed: list[str] = []
    for kind in KINDS_OWNED:
        if kind == "HTTPRoute" and routing != "gateway":
            continue
        for obj in cluster.find(kind, mine):
            name = obj["metadata"]["name"]
            if cluster.delete(kind, name):
                events.state(f"{kind} {name}", "deleted")
                removed.append(f"{kind} {name}")
    return removed
