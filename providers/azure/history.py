"""Azure ML target: reading history and state back from what Azure holds.

Revisions come from the environment versions (one per revision, tagged with its identity)
and the deployments; outcomes (failed, rolled back) from tags on the endpoint; the active
revision is the deployment taking the most traffic. Pure functions over plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scalectl.provider import Revision

from .requests import TAG, deployment_name, revision_of

OUTCOME = f"{TAG}.outcome."  # endpoint tag per revision: "failed: <why>" | "rolled_back"
KEEP_OUTCOMES = 30  # Azure allows 50 tags per resource


@dataclass
class Observed:
    """The raw picture `observe` builds (kept in `Live.observed`); plan/apply/rollback/destroy reuse it."""

    endpoint: dict[str, Any] | None = None
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> resource
    environments: dict[int, dict[str, Any]] = field(default_factory=dict)  # revision -> environment version
    autoscale: dict[str, dict[str, Any]] = field(default_factory=dict)  # deployment -> setting

    @property
    def tags(self) -> dict[str, str]:
        return dict((self.endpoint or {}).get("tags") or {})

    @property
    def outcomes(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if k.startswith(OUTCOME)}

    @property
    def traffic(self) -> dict[str, int]:
        return dict(properties_of(self.endpoint or {}).get("traffic") or {})

    @property
    def mirror(self) -> dict[str, int]:
        return dict(properties_of(self.endpoint or {}).get("mirrorTraffic") or {})

    @property
    def active(self) -> str | None:
        live = {k: v for k, v in self.traffic.items() if v > 0}
        return max(live, key=lambda k: live[k]) if live else None


def read_revisions(obs: Observed, active: int | None = None) -> list[Revision]:
    """Every revision Azure knows of (environment versions, deployments), with its status.

    `active`: the serving revision when it is not the one with most traffic (a split left mid-rollout).
    """
    identities: dict[int, dict[str, str]] = {}
    for number, env in obs.environments.items():
        identities[number] = dict(properties_of(env).get("tags") or {})
    for name, dep in obs.deployments.items():
        found = revision_of(name)
        if found is not None:
            identities.setdefault(found, dict(dep.get("tags") or {}))
    if active is None:
        active = revision_of(obs.active) if obs.active else None
    out = []
    for number in sorted(identities):
        tags = identities[number]
        status, message = status_of(obs, number, active)
        out.append(
            Revision(
                number=number,
                digest=tags.get(f"{TAG}.digest", ""),
                image=tags.get(f"{TAG}.image", ""),
                created_at=tags.get(f"{TAG}.created_at", ""),
                created_by=tags.get(f"{TAG}.created_by", ""),
                status=status,  # type: ignore[arg-type]
                message=message,
            )
        )
    return out


def status_of(obs: Observed, number: int, active: int | None) -> tuple[str, str]:
    outcome = obs.outcomes.get(f"{OUTCOME}{number}", "")
    dep = obs.deployments.get(deployment_name(number))
    state = properties_of(dep).get("provisioningState") if dep else None
    if number == active:
        return "active", ""
    if outcome.startswith("failed"):
        return "failed", outcome.removeprefix("failed: ")
    if state in ("Creating", "Updating"):
        return "pending", f"deployment {state}"
    if state == "Failed":
        return "failed", "deployment Failed"
    if outcome == "rolled_back":
        return "rolled_back", ""
    if dep is None and active is not None and number > active:
        return "failed", "never took traffic (interrupted deploy?)"
    if dep is not None and active is not None and number > active and not outcome:
        return "pending", "its rollout never finished (the next command rolls it back)"
    return "superseded", "" if dep else "deployment deleted (can be recreated)"


def deployment_summary(dep: dict[str, Any], traffic: dict[str, int]) -> dict[str, Any]:
    props = properties_of(dep)
    name = str(dep.get("name"))
    return {
        "name": name,
        "revision": revision_of(name),
        "state": props.get("provisioningState"),
        "traffic": traffic.get(name, 0),
        "instance_type": props.get("instanceType"),
        "instance_count": (dep.get("sku") or {}).get("capacity"),
    }


def autoscale_summary(setting: dict[str, Any]) -> dict[str, Any]:
    props = properties_of(setting)
    profiles = props.get("profiles") or []
    cap = profiles[0].get("capacity", {}) if profiles else {}
    rules = profiles[0].get("rules", []) if profiles else []
    metric = rules[0].get("metricTrigger", rules[0].get("metric_trigger", {})) if rules else {}
    return {
        "name": setting.get("name"),
        "min": to_int(cap.get("minimum")),
        "max": to_int(cap.get("maximum")),
        "default": to_int(cap.get("default")),
        "metric": metric.get("metricName") or metric.get("metric_name"),
        "enabled": props.get("enabled"),
    }


def trim(outcomes: dict[str, str]) -> dict[str, str]:
    """Keep the newest outcome tags (Azure allows 50 tags per resource)."""
    ordered = sorted(outcomes, key=lambda k: to_int(k.removeprefix(OUTCOME)) or 0)
    return {k: outcomes[k] for k in ordered[-KEEP_OUTCOMES:]}


def properties_of(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource.get("properties")
    return props if isinstance(props, dict) else {}


def to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
