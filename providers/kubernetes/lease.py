"""The deploy lease of a Kubernetes target: a `coordination.k8s.io/v1` Lease in its namespace.

Kept in the cluster itself, so every runner that can deploy to the target sees it. The Lease is
named `scalectl-lease-<app>-<target>-<hash>` (the hash of the exact `app/target` pair keeps
`a-b`/`c` and `a`/`b-c` apart; the name stays a valid DNS-1123 label) and carries the app's
and target's `scalectl.io/*` labels. The protocol is the core's compare-and-set one
(`scalectl.lease.CasStore`) on the API server's own primitives: create is atomic (409
AlreadyExists: held), and renew, takeover and release are a replace or a delete conditioned on
the `metadata.resourceVersion` that was read (409 Conflict: someone else changed it first).
`spec.holderIdentity`, `acquireTime`, `renewTime` and `leaseDurationSeconds` say who holds it
and until when, as for any Lease (`kubectl get lease` shows them); the full holder record
(actor, host, pid, command, since) is in the `scalectl.io/lease-holder` annotation.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from scalectl.capture import parse_time
from scalectl.errors import ProviderError
from scalectl.lease import DEFAULT_TTL, CasStore, Holder

from .requests import APP, LABEL, TARGET
from .schema import KubernetesTarget

if TYPE_CHECKING:
    from scalectl.schema import TargetBase

    from .api import Cluster

HOLDER = f"{LABEL}/lease-holder"  # annotation: the holder record as JSON
_PREFIX = "scalectl-lease-"
_MAX = 63  # a DNS-1123 label (Lease names may be longer subdomains; a label is valid everywhere)


def lease_name(app: str, target: str) -> str:
    """`scalectl-lease-<app>-<target>-<hash>`, at most 63 characters, lowercase alphanumerics and '-'.

    The readable part is lowercased with `_` as `-` (so it may collide); the hash of the exact pair
    does not, so distinct app/target pairs get distinct Leases.
    """
    digest = hashlib.sha256(f"{app}/{target}".encode()).hexdigest()[:10]
    readable = "".join(c if c.isalnum() and c.isascii() else "-" for c in f"{app}-{target}".lower())
    readable = readable[: _MAX - len(_PREFIX) - len(digest) - 1].strip("-")
    return f"{_PREFIX}{readable}-{digest}" if readable else f"{_PREFIX}{digest}"


def _micro(epoch: float) -> str:
    """A MicroTime as the API server writes it: RFC 3339 with microseconds, UTC."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return None


class KubernetesLease(CasStore):
    """One target's Lease; the cluster client is made on first use (only commands that deploy need it)."""

    def __init__(self, location: str, key: str, target: TargetBase) -> None:
        assert isinstance(target, KubernetesTarget), f"not a kubernetes target: {target!r}"
        app, _, target_name = key.partition("/")
        self.target = target
        self.name = lease_name(app, target_name)
        self.namespace = target.namespace
        context = f" (context {target.context})" if target.context else ""
        self.where = f"kubernetes Lease {self.namespace}/{self.name}{context}"
        self.labels = {APP: app, TARGET: target_name.lower().replace("_", "-")}  # as requests.owner_labels
        self.ttl = int(target.lock.ttl) if target.lock is not None else DEFAULT_TTL  # as scalectl.lease.store_for
        self.seen: dict[str, tuple[str, int]] = {}  # resourceVersion -> (holderIdentity, leaseTransitions)
        self._cluster: Cluster | None = None

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            from .api import Cluster

            self._cluster = Cluster(self.target)
        return self._cluster

    def _api(self) -> Any:
        return self.cluster.api("CoordinationV1Api")

    def _body(self, record: str, version: str | None, transitions: int) -> dict[str, Any]:
        """The Lease for a holder record; renewTime + leaseDurationSeconds is the record's expiry."""
        holder = Holder.from_json(record)
        if math.isinf(holder.expires):
            raise ProviderError(f"refusing to write an unreadable holder record to {self.where}")
        duration = self.ttl  # renewTime is when the holder stamped its record: expires - ttl
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": self.labels,
            "annotations": {HOLDER: record},
        }
        if version is not None:
            metadata["resourceVersion"] = version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": identity(holder),
                "leaseDurationSeconds": duration,
                "acquireTime": _micro(holder.since),
                "renewTime": _micro(holder.expires - duration),
                "leaseTransitions": transitions,
            },
        }

    def _remember(self, obj: dict[str, Any]) -> str:
        """The Lease's resourceVersion, noting who held it then (for leaseTransitions on a takeover)."""
        spec = obj.get("spec") or {}
        version = str(obj["metadata"]["resourceVersion"])
        self.seen[version] = (str(spec.get("holderIdentity") or ""), int(spec.get("leaseTransitions") or 0))
        return version

    # ------------------------------------------------------------ the four atomic primitives

    def create(self, body: str) -> str | None:
        from .api import Conflict, NotFound

        try:
            created = self.cluster.call(
                "create Lease", self._api().create_namespaced_lease, self.namespace, self._body(body, None, 0)
            )
        except Conflict:
            return None  # AlreadyExists: held (or expired: the caller reads it and decides)
        except NotFound:
            raise ProviderError(
                f"cannot create the deploy lease {self.where}: namespace {self.namespace!r} does not exist, "
                "or the cluster does not serve coordination.k8s.io/v1"
            ) from None
        return self._remember(created)

    def read(self) -> tuple[str, str] | None:
        from .api import NotFound

        try:
            obj = self.cluster.call("get Lease", self._api().read_namespaced_lease, self.name, self.namespace)
        except NotFound:
            return None
        return holder_of(obj).to_json(), self._remember(obj)

    def swap(self, body: str, token: str) -> str | None:
        from .api import Conflict, NotFound

        held_by, transitions = self.seen.get(token, ("", 0))
        if held_by != identity(Holder.from_json(body)):
            transitions += 1  # a takeover, not a renewal
        try:
            replaced = self.cluster.call(
                "replace Lease",
                self._api().replace_namespaced_lease,
                self.name,
                self.namespace,
                self._body(body, token, transitions),
            )
        except (Conflict, NotFound):
            return None  # changed or deleted since `token` was read
        return self._remember(replaced)

    def delete(self, token: str | None) -> bool:
        from .api import Conflict, NotFound

        options: dict[str, Any] = {"preconditions": {"resourceVersion": token}} if token else {}
        try:
            self.cluster.call(
                "delete Lease", self._api().delete_namespaced_lease, self.name, self.namespace, body=options
            )
        except (Conflict, NotFound):
            return False  # changed since `token` (someone else's now), or gone already
        return True


def identity(holder: Holder) -> str:
    """`spec.holderIdentity`: who, where and which process."""
    return f"{holder.actor}@{holder.host}:{holder.pid}"


def holder_of(obj: dict[str, Any]) -> Holder:
    """The holder a Lease names, expiring when the Lease says (renewTime + leaseDurationSeconds).

    Without our annotation (a Lease written by hand or another tool) it is held by its
    `holderIdentity`; with no expiry either, it never expires and only `unlock --force` frees it.
    """
    spec = obj.get("spec") or {}
    holder = Holder.from_json((obj["metadata"].get("annotations") or {}).get(HOLDER, ""))
    renewed, duration = _epoch(spec.get("renewTime")), spec.get("leaseDurationSeconds")
    if holder.pid == 0 and spec.get("holderIdentity"):  # the record was unreadable or missing
        since = _epoch(spec.get("acquireTime")) or renewed or 0.0
        holder = replace(
            holder, actor=str(spec["holderIdentity"]), command="a Lease not written by scalectl", since=since
        )
    if renewed is not None and isinstance(duration, int):
        holder = replace(holder, expires=renewed + duration)
    return holder


def lease(location: str, key: str, target: TargetBase) -> KubernetesLease:
    """`Platform.lease`: every Kubernetes target's lease lives in its namespace on its cluster."""
    return KubernetesLease(location, key, target)
