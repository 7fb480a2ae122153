"""The echo Provider: offline checks, a rendered body, and a JSON file for a platform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scalectl.config import ScaleFile
from scalectl.errors import DeployFailed, Diagnostic
from scalectl.events import Events
from scalectl.provider import Change, Live, Plan, Release, Revision
from scalectl.render import pretty, render_json
from scalectl_echo.schema import EchoTarget

TEMPLATES = Path(__file__).parent / "templates"


class EchoProvider:
    name = "echo"

    def check(self, spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
        t = spec.targets[target]
        assert isinstance(t, EchoTarget)
        found = []
        if t.spot:
            found.append(Diagnostic("echo has no spot capacity; remove `spot`", loc=("targets", target, "spot")))
        if t.autoscaling.max > t.replicas * 2:
            found.append(
                Diagnostic(
                    f"echo scales to at most twice `replicas` ({t.replicas * 2})",
                    loc=("targets", target, "autoscaling", "max"),
                )
            )
        return found

    def render(self, release: Release) -> dict[str, str]:
        return {"deployment.json": pretty(self._body(release, "{revision}"))}

    def observe(self, release: Release) -> Live:
        entry = self._platform(release).get(release.target_name)
        if entry is None:
            return Live()
        revisions = [Revision(**r) for r in entry["revisions"]]
        return Live(exists=True, revisions=revisions, active=entry["active"], traffic={entry["active"]: 100})

    def plan(self, release: Release, live: Live) -> list[Change]:
        if not live.exists:
            return [Change("create", f"echo deployment {release.app}-{release.target_name}")]
        active = live.active_revision
        if active is not None and active.digest == release.digest:
            return [Change("keep", f"revision {active.number}", "already running this config")]
        return [Change("update", f"echo deployment {release.app}-{release.target_name}", release.model.image)]

    def apply(self, plan: Plan, events: Events) -> Revision:
        if "broken" in plan.release.model.image:
            raise DeployFailed(f"{plan.release.model.image} failed its health check; nothing changed")
        data = self._platform(plan.release)
        entry = data.setdefault(plan.release.target_name, {"revisions": [], "active": None})
        revision = Revision(**{**plan.revision.to_dict(), "status": "active"})
        for r in entry["revisions"]:
            if r["status"] == "active":
                r["status"] = "superseded"
        entry["revisions"].append(revision.to_dict())
        entry["active"] = revision.number
        entry["body"] = self._body(plan.release, revision.number)
        self._save(plan.release, data)
        return revision

    def rollback(self, release: Release, live: Live, to: Revision, events: Events) -> Revision:
        data = self._platform(release)
        entry = data[release.target_name]
        for r in entry["revisions"]:
            if r["number"] == live.active:
                r["status"] = "rolled_back"
            if r["number"] == to.number:
                r["status"] = "active"
        entry["active"] = to.number
        self._save(release, data)
        return Revision(**{**to.to_dict(), "status": "active"})

    def destroy(self, release: Release, live: Live, events: Events) -> list[str]:
        data = self._platform(release)
        data.pop(release.target_name, None)
        self._save(release, data)
        return [f"echo deployment {release.app}-{release.target_name}"]

    def _body(self, release: Release, revision: int | str) -> dict[str, Any]:
        t = release.target
        assert isinstance(t, EchoTarget)
        return render_json(
            "echo/deployment.json.j2",
            root=TEMPLATES,
            name=f"{release.app}-{release.target_name}",
            image=release.model.image,
            replicas=t.replicas,
            port=release.model.port,
            revision=revision,
        )

    def _file(self, release: Release) -> Path:
        t = release.target
        assert isinstance(t, EchoTarget)
        return release.base_dir / t.state_file

    def _platform(self, release: Release) -> dict[str, Any]:
        path = self._file(release)
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return data

    def _save(self, release: Release, data: dict[str, Any]) -> None:
        self._file(release).write_text(json.dumps(data, indent=2))
