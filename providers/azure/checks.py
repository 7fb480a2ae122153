"""Azure ML target: offline capability checks against what managed online endpoints accept.

Pure: `scalectl validate` runs these without an Azure SDK or credentials.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from scalectl.errors import Diagnostic, did_you_mean

from .requests import DEFAULT_CAPTURE, KV_REF, MODEL_REF

if TYPE_CHECKING:
    from scalectl.schema import ModelSpec

    from .schema import AzureTarget

# Managed online endpoint SKUs (learn.microsoft.com: "Managed online endpoints SKU list"), GPU flag.
INSTANCE_TYPES: dict[str, bool] = {
    **{f"Standard_DS{n}_v2": False for n in (1, 2, 3, 4, 5)},
    **{f"Standard_F{n}s_v2": False for n in (2, 4, 8, 16, 32, 48, 64, 72)},
    **{f"Standard_E{n}s_v3": False for n in (2, 4, 8, 16, 32, 48, 64)},
    **{f"Standard_D{n}as_v4": False for n in (2, 4, 8, 16, 32, 48, 64, 96)},
    **{f"Standard_D{n}a_v4": False for n in (2, 4, 8, 16, 32, 48, 64, 96)},
    **{f"Standard_NC{n}as_T4_v3": True for n in (4, 8, 16, 64)},
    **{f"Standard_NC{n}s_v3": True for n in (6, 12, 24)},
    "Standard_NC24rs_v3": True,
    **{f"Standard_NC{n}ads_A100_v4": True for n in (24, 48, 96)},
    "Standard_ND96asr_v4": True,
    "Standard_ND96amsr_A100_v4": True,
    "Standard_ND40rs_v2": True,
    "Standard_NC40ads_H100_v5": True,
    "Standard_NC80adis_H100_v5": True,
    "Standard_ND96isr_H100_v5": True,
}

SMALL_INSTANCE_TYPES = ("Standard_DS1_v2", "Standard_DS2_v2")  # azure-ai-ml warns about these too
ENDPOINT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")


def check(release_target: AzureTarget, model: ModelSpec, app: str, target: str) -> list[Diagnostic]:
    """Everything Azure would refuse, said offline with what to use instead."""
    t = release_target
    at = ("targets", target)
    out: list[Diagnostic] = []
    if t.spot:
        out.append(
            Diagnostic(
                "Azure ML managed online endpoints offer no spot or low-priority capacity; remove `spot` "
                "(low-priority VMs exist only for batch endpoints and compute clusters)",
                loc=(*at, "spot"),
            )
        )
    if t.instance not in INSTANCE_TYPES:
        hint = did_you_mean(t.instance, INSTANCE_TYPES, n=3, cutoff=0.5)
        out.append(
            Diagnostic(
                f"`{t.instance}` is not a managed online endpoint instance type{hint}; see "
                "https://learn.microsoft.com/azure/machine-learning/reference-managed-online-endpoints-vm-sku-list",
                loc=(*at, "instance"),
            )
        )
    elif t.instance in SMALL_INSTANCE_TYPES:
        out.append(
            Diagnostic(
                f"`{t.instance}` may be too small: Azure reserves part of each instance for the platform; "
                "Standard_DS3_v2 is the smallest recommended for managed online endpoints",
                loc=(*at, "instance"),
                severity="warning",
            )
        )
    name = t.endpoint_name or f"{app}-{target}"
    if not ENDPOINT_NAME.match(name):
        where = (*at, "endpoint_name") if t.endpoint_name else (*at,)
        out.append(
            Diagnostic(
                f"endpoint name `{name}` is not valid on Azure (3-32 letters, digits and '-', starting with a "
                "letter); set a shorter `endpoint_name`",
                loc=where,
            )
        )
    for key, value in t.tags.items():
        if set(key) & set("<>%&\\?/") or len(key) > 512 or len(str(value)) > 256:
            out.append(
                Diagnostic(
                    f"tag `{key}`: Azure tag names cannot contain < > % & \\ ? / (at most 512 characters) and "
                    "values hold at most 256 characters",
                    loc=(*at, "tags", key),
                )
            )
    out += _check_autoscaling(t, at)
    out += _check_rollout(t, at)
    out += _check_model(t, model, at)
    out += _check_capture(t, at)
    return out


def _check_capture(t: AzureTarget, at: tuple[str, ...]) -> list[Diagnostic]:
    """The collector writes to the workspace blob store; another store needs a data asset scalectl does not make."""
    cap = t.monitoring.capture
    if cap is None or cap.destination.rstrip("/") == DEFAULT_CAPTURE:
        return []
    return [
        Diagnostic(
            f"scalectl captures on Azure to the workspace's default blob store only: set destination: "
            f"{DEFAULT_CAPTURE} (files land under modelDataCollector/<endpoint>/<deployment>/); got "
            f"{cap.destination!r}. Another storage account needs an Azure ML data asset per collection, which "
            "scalectl does not create",
            loc=(*at, "monitoring", "capture", "destination"),
        )
    ]


def _check_autoscaling(t: AzureTarget, at: tuple[str, ...]) -> list[Diagnostic]:
    a = t.autoscaling
    loc = (*at, "autoscaling")
    out: list[Diagnostic] = []
    if a.min < 1:
        out.append(
            Diagnostic(
                "managed online deployments cannot scale to zero instances; use `min: 1` or more",
                loc=(*loc, "min"),
            )
        )
    if a.metric == "accelerator_duty_cycle":
        out.append(
            Diagnostic(
                "Azure Monitor has no accelerator duty-cycle metric for online deployments (that is Vertex AI's TPU "
                "metric); use `metric: gpu` (GpuUtilizationPercentage) on GPU instances, or `cpu`",
                loc=(*loc, "metric"),
            )
        )
    if a.metric == "gpu" and not INSTANCE_TYPES.get(t.instance, True):
        out.append(
            Diagnostic(
                f"`metric: gpu` needs a GPU instance type, and `{t.instance}` has none; use `cpu` or "
                "`requests_per_replica`, or a GPU instance such as Standard_NC4as_T4_v3",
                loc=(*loc, "metric"),
            )
        )
    if a.max > a.min:
        for key in ("scale_in_cooldown", "scale_out_cooldown"):
            if getattr(a, key) < 60:
                out.append(
                    Diagnostic(
                        f"Azure autoscale cooldowns are at least 1 minute; set `{key}: 1m` or more",
                        loc=(*loc, key),
                    )
                )
    return out


def _check_rollout(t: AzureTarget, at: tuple[str, ...]) -> list[Diagnostic]:
    r = t.rollout
    loc = (*at, "rollout")
    out: list[Diagnostic] = []
    if r.alarms:
        out.append(
            Diagnostic(
                "`alarms` are CloudWatch alarms (AWS only); on Azure a failed deployment or probe during each bake "
                "rolls back; remove `alarms` from this target",
                loc=(*loc, "alarms"),
            )
        )
    if t.mirror and r.bake == 0:
        out.append(
            Diagnostic(
                f"mirror: {t.mirror} copies live traffic to the new deployment for one bake, and rollout.bake is 0: "
                "nothing would be mirrored; set a bake (e.g. 5m) or remove `mirror`",
                loc=(*at, "mirror"),
                severity="warning",
            )
        )
    if t.startup_delay < 1:
        # ProbeSettings.initialDelay: "Minimum value is 1" (azure-ai-ml ProbeSettings; OnlineDeployment REST API)
        out.append(
            Diagnostic(
                "Azure probes start at least 1 second after the container (ProbeSettings initialDelay >= 1s); "
                "set startup_delay: 1s or more",
                loc=(*at, "startup_delay"),
            )
        )
    return out


def _check_model(t: AzureTarget, model: ModelSpec, at: tuple[str, ...]) -> list[Diagnostic]:
    """`model` as this target runs it (overrides applied): Azure ML loads registered models and Key Vault secrets."""
    out: list[Diagnostic] = []
    art = model.artifact
    if art and not _azure_model(art):
        out.append(
            Diagnostic(
                f"target {at[1]} (azure): Azure ML cannot load `{art}`; it needs a registered model. Register it "
                "(`az ml model create --name <name> --version <v> --path <files>`) and give this target "
                "`model: {artifact: azureml:<name>:<version>}`",
                loc=("model", "artifact"),
            )
        )
    for name, ref in model.secrets.items():
        if not KV_REF.match(ref):
            out.append(
                Diagnostic(
                    f"target {at[1]} (azure): secret {name}: an Azure deployment cannot read "
                    f"`{ref.split('://', 1)[0]}://` references; put the secret in Key Vault and give this target "
                    f"`model: {{secrets: {{{name}: azure-kv://<vault>/<secret>}}}}`",
                    loc=("model", "secrets", name),
                )
            )
    return out


def _azure_model(ref: str) -> bool:
    return bool(MODEL_REF.match(ref)) or ref.startswith("azureml://registries/")
