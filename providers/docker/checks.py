"""Docker target: offline checks of a target against what one local engine can run.

Pure: `scalectl validate` runs these without the docker SDK or an engine.
"""

from __future__ import annotations

import os
from pathlib import Path

from scalectl.config import ScaleFile
from scalectl.errors import Diagnostic

from .schema import DockerTarget

LOCAL_SECRET_SCHEMES = ("env", "file")


def check(spec: ScaleFile, target: str, base_dir: Path) -> list[Diagnostic]:
    """What a local engine cannot do (cloud secrets, remote artifacts, alarms), found before deploy."""
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
                "and the gateway's figures: use rollout.max_error_rate, rollout.max_p99 and rollout.max_p99_ratio",
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
                Diagnostic(f"model.artifact {artifact} does not exist (relative to {base_dir})", ("model", "artifact"))
            )
    if spec.model.build and not (base_dir / spec.model.build / "Dockerfile").is_file():
        out.append(Diagnostic(f"model.build: no Dockerfile in {base_dir / spec.model.build}", ("model", "build")))
    out += _capture(t, here, base_dir)
    return out


def _capture(t: DockerTarget, here: tuple[str, ...], base_dir: Path) -> list[Diagnostic]:
    """Docker captures go to a host directory (JSON lines); a cloud URL or an unwritable folder is refused."""
    cap = t.monitoring.capture
    if cap is None:
        return []
    at = (*here, "monitoring", "capture", "destination")
    if "://" in cap.destination:
        return [Diagnostic(f"docker targets capture to a directory on this host, not {cap.destination}", at)]
    folder = base_dir / cap.destination
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
        return [Diagnostic(f"capture directory {folder} cannot be created or written", at)]
    return []
