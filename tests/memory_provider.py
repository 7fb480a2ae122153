"""A test-only provider that keeps its "platform" in a JSON file.

It exercises the engine and the CLI without a cloud or an engine: revisions live in the
platform file (like tags on a real deployment), so a second state directory - another CI
runner - sees the same history. An image whose name contains "broken" fails its health
check, and the previous revision keeps serving.

Safe for targets deploying in parallel threads (one lock around each read-modify-write of the
platform file). `apply_seconds` makes a rollout take that long, waiting with `scalectl.wait.pause` as a
real one does (a revision is `pending` meanwhile, and `observe` reports it unfinished); `running` and
`peak` count rollouts in progress, `spans` records (target, start, end) of each.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scalectl.config import ScaleFile
from scalectl.errors import DeployFailed, Diagnostic
from scalectl.events import Events
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.wait import pause


class MemoryProvider:
    name = "memory"

    def __init__(self, platform_file: Path) -> None:
        self.platform_file = platform_file
        self.calls: list[str] = []
        self.lock = threading.RLock()
        self.apply_seconds = 0.0
        self.running = 0
        self.peak = 0
        self.spans: list[tuple[str, float, float]] = []

    # -- platform storage
    def _load(self) -> dict[str, Any]:
        if self.platform_file.exists():
            data: dict[str, Any] = json.loads(self.platform_file.read_text())
            return data
        return {}

    def _save(self, data: dict[str, Any]) -> None:
        self.platform_file.write_text(json.dumps(data))

    def _key(self, release: Release) -> str:
        return f"{release.app}/{release.target_name}"

    # -- Provider
    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        t = spec.targets[target]
        if t.spot:
            return [Diagnostic("spot capacity is not offered here", loc=("targets", target, "spot"))]
        return []

    def render(self, release: Release) -> dict[str, str]:
        body = {"image": release.model.image, "port": release.model.port, "secrets": release.model.secrets}
        return {"deployment.json": json.dumps(body, indent=2) + "\n"}

    def observe(self, release: Release) -> Live:
        with self.lock:
            self.calls.append("observe")
            entry = self._load().get(self._key(release))
        if entry is None:
            return Live()
        revisions = [Revision(**r) for r in entry["revisions"]]
        return Live(
            exists=True,
            revisions=revisions,
            active=entry["active"],
            traffic={entry["active"]: 100} if entry["active"] is not None else {},
            url="memory://" + self._key(release),
            details={"replicas": entry["replicas"]},
            unfinished=[f"revision {r.number} was left pending" for r in revisions if r.status == "pending"],
        )

    def remove_pending(self, release: Release, live: Live, events: Events) -> list[str]:
        """A `recover` for tests to install: remove what an interrupted rollout left."""
        with self.lock:
            data = self._load()
            entry = data[self._key(release)]
            gone = [r["number"] for r in entry["revisions"] if r["status"] == "pending"]
            entry["revisions"] = [r for r in entry["revisions"] if r["status"] != "pending"]
            if not entry["revisions"]:
                del data[self._key(release)]
            self._save(data)
        return [f"removed pending revision {n}" for n in gone]

    def plan(self, release: Release, live: Live) -> list[Change]:
        if not live.exists:
            return [Change("create", "deployment", release.model.image)]
        active = live.active_revision
        if active is not None and active.digest == release.digest:
            return [Change("keep", f"revision {active.number}", "already running this config")]
        return [Change("update", "deployment", f"{release.model.image} (digest {release.digest})")]

    def apply(self, plan: Plan, events: Events) -> Revision:
        with self.lock:
            self.calls.append("apply")
            self.running += 1
            self.peak = max(self.peak, self.running)
        start = time.monotonic()
        try:
            if self.apply_seconds:
                with self.lock:
                    data = self._load()
                    entry = data.setdefault(self._key(plan.release), {"revisions": [], "active": None, "replicas": 0})
                    entry["revisions"].append({**asdict(plan.revision), "status": "pending"})
                    self._save(data)
                events.step(f"revision {plan.revision.number} pending")
                pause(self.apply_seconds)  # as a real rollout waits: an interrupt ends it early
            with self.lock:
                return self._apply(plan, events)
        finally:
            with self.lock:
                self.running -= 1
                self.spans.append((plan.release.target_name, start, time.monotonic()))

    def _apply(self, plan: Plan, events: Events) -> Revision:
        data = self._load()
        key = self._key(plan.release)
        entry = data.setdefault(key, {"revisions": [], "active": None, "replicas": 0})
        entry["revisions"] = [r for r in entry["revisions"] if r["number"] != plan.revision.number]
        events.step(f"starting revision {plan.revision.number}")
        rev = Revision(**{**asdict(plan.revision)})
        if "broken" in plan.release.model.image:
            events.state("deployment", "Failed")
            rev.status = "failed"
            rev.message = "health check failed"
            entry["revisions"].append(asdict(rev))
            if entry["active"] is None:
                del data[key]
            self._save(data)
            serving = f"revision {entry['active']} still serves" if entry["active"] else "nothing was serving"
            raise DeployFailed(f"revision {rev.number} failed its health check; rolled back, {serving}")
        for r in entry["revisions"]:
            if r["status"] == "active":
                r["status"] = "superseded"
        rev.status = "active"
        entry["revisions"].append(asdict(rev))
        entry["active"] = rev.number
        entry["replicas"] = plan.release.target.autoscaling.min
        self._save(data)
        events.state("deployment", "Healthy")
        return rev

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        with self.lock:
            return self._rollback(release, to, events)

    def _rollback(self, release: Release, to: Revision, events: Events) -> Revision:
        self.calls.append("rollback")
        data = self._load()
        entry = data[self._key(release)]
        for r in entry["revisions"]:
            if r["number"] == entry["active"]:
                r["status"] = "rolled_back"
            if r["number"] == to.number:
                r["status"] = "active"
        entry["active"] = to.number
        self._save(data)
        events.step(f"traffic back to revision {to.number}")
        return Revision(**{**asdict(to), "status": "active"})

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        with self.lock:
            data = self._load()
            data.pop(self._key(release), None)
            self._save(data)
        return [f"deployment {self._key(release)}"]
