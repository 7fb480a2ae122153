"""Azure ML target, offline half: names, capability checks and the request bodies.

Nothing here talks to Azure or imports an Azure SDK, so `validate`, `render` and `schema`
stay fast. `Bodies` is the single source of what `apply` sends: `render` shows the same
dicts with a placeholder revision.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalectl.errors import Diagnostic, did_you_mean
from scalectl.render import render_json

if TYPE_CHECKING:
    from scalectl.provider import Release, Revision
    from scalectl.schema import ModelSpec

    from .schema import AzureTarget

TAG = "scalectl"  # prefix of every tag scalectl writes; destroy acts only on resources that carry it
ML = "Microsoft.MachineLearningServices"
DEPLOYMENT_METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
ENDPOINT_METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"

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

# scale.yaml metric -> (Azure Monitor metric, namespace, scope). Scope "deployment" metrics are
# emitted per deployment; RequestsPerMinute is an endpoint metric split by its `deployment` dimension.
METRICS: dict[str, tuple[str, str, str]] = {
    "cpu": ("CpuUtilizationPercentage", DEPLOYMENT_METRIC_NAMESPACE, "deployment"),
    "memory": ("CpuMemoryUtilizationPercentage", DEPLOYMENT_METRIC_NAMESPACE, "deployment"),
    "gpu": ("GpuUtilizationPercentage", DEPLOYMENT_METRIC_NAMESPACE, "deployment"),
    "requests_per_replica": ("RequestsPerMinute", ENDPOINT_METRIC_NAMESPACE, "endpoint"),
}
SCALE_IN_RATIO = 0.5  # scale in below half the target: hysteresis, so the two rules never flap
ENDPOINT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
MODEL_REF = re.compile(r"^azureml:([A-Za-z0-9_.-]+):([A-Za-z0-9_.-]+)$")
KV_REF = re.compile(r"^azure-kv://([A-Za-z0-9-]{3,24})/([A-Za-z0-9-]{1,127})(?:/([A-Za-z0-9]{32}))?$")


def endpoint_name(release: Release) -> str:
    target: AzureTarget = release.target  # type: ignore[assignment]
    return target.endpoint_name or f"{release.app}-{release.target_name}"


def deployment_name(number: int | str) -> str:
    """One deployment per revision, named after it: rev-7."""
    return f"rev-{number}"


def revision_of(deployment: str) -> int | None:
    m = re.fullmatch(r"rev-(\d+)", deployment)
    return int(m.group(1)) if m else None


def environment_name(endpoint: str) -> str:
    return f"scalectl-{endpoint}"


def autoscale_name(endpoint: str, deployment: str) -> str:
    return f"{endpoint}-{deployment}-autoscale"


def workspace_id(t: AzureTarget) -> str:
    return f"/subscriptions/{t.subscription}/resourceGroups/{t.resource_group}/providers/{ML}/workspaces/{t.workspace}"


def iso_seconds(seconds: int) -> str:
    """120 -> PT2M, 90 -> PT1M30S: the ISO-8601 durations ARM expects."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    out = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return out if out != "PT" else "PT0S"


# ---------------------------------------------------------------- checks


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
    return out


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
    if r.max_error_rate is not None:
        out.append(
            Diagnostic(
                "`max_error_rate` is not supported on the azure target yet: scalectl watches deployment health, "
                "not Azure Monitor request metrics, during a bake; remove it",
                loc=(*loc, "max_error_rate"),
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


def secret_env(model: ModelSpec) -> dict[str, str]:
    """NAME -> Azure ML secret injection reference: the platform reads Key Vault with the endpoint's
    identity and injects the value into the container; scalectl never sees it."""
    out = {}
    for name, ref in sorted(model.secrets.items()):
        m = KV_REF.match(ref)
        if m:
            vault, secret, version = m.group(1), m.group(2), m.group(3)
            uri = f"https://{vault}.vault.azure.net/secrets/{secret}" + (f"/{version}" if version else "")
            out[name] = f"${{{{keyvault:{uri}}}}}"
    return out


# ---------------------------------------------------------------- bodies


@dataclass(frozen=True)
class Identity:
    """What the deployment's tags say about its revision (history lives with the deployment)."""

    number: int | str
    digest: str
    image: str
    created_at: str
    created_by: str

    @classmethod
    def of(cls, revision: Revision) -> Identity:
        return cls(revision.number, revision.digest, revision.image, revision.created_at, revision.created_by)


PLACEHOLDER = Identity("N", "<digest>", "<image>", "<set at deploy>", "<deployer>")


class Bodies:
    """The ARM request bodies for one release and revision, rendered from templates/azure/."""

    def __init__(self, release: Release, identity: Identity) -> None:
        self.release = release
        self.target: AzureTarget = release.target  # type: ignore[assignment]
        self.identity = identity
        self.endpoint = endpoint_name(release)
        self.deployment = deployment_name(identity.number)
        self.environment = environment_name(self.endpoint)

    # -- ids

    @property
    def endpoint_id(self) -> str:
        return f"{workspace_id(self.target)}/onlineEndpoints/{self.endpoint}"

    @property
    def deployment_id(self) -> str:
        return f"{self.endpoint_id}/deployments/{self.deployment}"

    @property
    def environment_id(self) -> str:
        return f"{workspace_id(self.target)}/environments/{self.environment}/versions/{self.identity.number}"

    @property
    def autoscale(self) -> str:
        return autoscale_name(self.endpoint, self.deployment)

    @property
    def has_autoscale(self) -> bool:
        return self.target.autoscaling.max > self.target.autoscaling.min

    def base_tags(self) -> dict[str, str]:
        return {
            **{k: str(v)[:256] for k, v in self.target.tags.items()},  # the user's tags; scalectl's own win
            f"{TAG}.app": self.release.app,
            f"{TAG}.target": self.release.target_name,
            f"{TAG}.managed": "true",
        }

    def revision_tags(self) -> dict[str, str]:
        i = self.identity
        return {
            **self.base_tags(),
            f"{TAG}.revision": str(i.number),
            f"{TAG}.digest": i.digest,
            f"{TAG}.image": i.image[:256],
            f"{TAG}.created_at": i.created_at,
            f"{TAG}.created_by": i.created_by[:256],
        }

    # -- bodies

    def endpoint_body(
        self, traffic: dict[str, int], mirror: dict[str, int], outcomes: dict[str, str]
    ) -> dict[str, Any]:
        """PUT replaces the endpoint: traffic, mirror and the outcome tags travel together."""
        return render_json(
            "azure/endpoint.json.j2",
            location=self.target.region,
            tags={**self.base_tags(), **outcomes},
            description=f"scalectl: {self.release.app} / {self.release.target_name}",
            auth_mode="Key" if self.target.auth_mode == "key" else "AMLToken",
            traffic=traffic,
            mirror=mirror,
        )

    def deployment_body(self) -> dict[str, Any]:
        t = self.target
        model = self.release.model
        env = {**model.env, **secret_env(model)}
        return render_json(
            "azure/deployment.json.j2",
            location=t.region,
            tags=self.revision_tags(),
            description=f"scalectl revision {self.identity.number} of {self.release.app}",
            instance_count=t.autoscaling.min,
            environment_id=self.environment_id,
            model_id=self.model_id(),
            env=env,
            instance_type=t.instance,
            request_timeout=iso_seconds(t.request_timeout),
            max_concurrent_requests=t.max_concurrent_requests,
            initial_delay=iso_seconds(t.startup_delay),
        )

    def model_id(self) -> str | None:
        art = self.release.model.artifact
        if not art:
            return None
        m = MODEL_REF.match(art)
        if m:
            return f"{workspace_id(self.target)}/models/{m.group(1)}/versions/{m.group(2)}"
        return art

    def autoscale_body(self) -> dict[str, Any] | None:
        if not self.has_autoscale:
            return None
        a = self.target.autoscaling
        metric, namespace, scope = METRICS.get(a.metric, METRICS["cpu"])
        per_endpoint = scope == "endpoint"
        # requests/s per replica -> requests per minute per instance (dividePerInstance)
        threshold = a.target * 60 if per_endpoint else a.target
        return render_json(
            "azure/autoscale.json.j2",
            location=self.target.region,
            tags=self.revision_tags(),
            name=self.autoscale,
            deployment_id=self.deployment_id,
            min=a.min,
            max=a.max,
            default=a.min,
            metric_name=metric,
            metric_namespace=namespace,
            metric_resource_uri=self.endpoint_id if per_endpoint else self.deployment_id,
            statistic="Average",
            scale_out_threshold=threshold,
            scale_in_threshold=round(threshold * SCALE_IN_RATIO, 3),
            divide_per_instance=per_endpoint,
            dimensions=(
                [{"DimensionName": "deployment", "Operator": "Equals", "Values": [self.deployment]}]
                if per_endpoint
                else []
            ),
            scale_out_cooldown=iso_seconds(max(a.scale_out_cooldown, 60)),
            scale_in_cooldown=iso_seconds(max(a.scale_in_cooldown, 60)),
        )

    def environment_body(self) -> dict[str, Any]:
        """The revision's environment version; it also retains the deployment and autoscale bodies so
        any machine can recreate a deleted revision, and it outlives the deployment as history."""
        model = self.release.model
        retained = {
            f"{TAG}.deployment": json.dumps(self.deployment_body(), sort_keys=True, separators=(",", ":")),
            f"{TAG}.autoscale": json.dumps(self.autoscale_body(), sort_keys=True, separators=(",", ":")),
        }
        return render_json(
            "azure/environment.json.j2",
            description=f"scalectl revision {self.identity.number}: {model.image}",
            image=model.image,
            port=model.port,
            health=model.health,
            predict=model.predict,
            tags=self.revision_tags(),
            properties=retained,
        )

    def rbac_role(self) -> dict[str, Any]:
        t = self.target
        return render_json(
            "azure/rbac-role.json.j2",
            workspace=t.workspace,
            scope=f"/subscriptions/{t.subscription}/resourceGroups/{t.resource_group}",
        )
