"""Azure ML target, offline half: names and the request bodies.

Nothing here talks to Azure or imports an Azure SDK, so `validate`, `render` and `schema`
stay fast. `Bodies` is the single source of what `apply` sends: `render` shows the same
dicts with a placeholder revision.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalectl.provider import ACTOR, DEPLOY_TIME, REVISION, placeholder
from scalectl.render import render_json

if TYPE_CHECKING:
    from scalectl.provider import Release, Revision
    from scalectl.schema import ModelSpec

    from .schema import AzureTarget

TAG = "scalectl"  # prefix of every tag scalectl writes; destroy acts only on resources that carry it
ML = "Microsoft.MachineLearningServices"
DEPLOYMENT_METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
ENDPOINT_METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"


# scale.yaml metric -> (Azure Monitor metric, namespace, scope). Scope "deployment" metrics are
# emitted per deployment; RequestsPerMinute is an endpoint metric split by its `deployment` dimension.
METRICS: dict[str, tuple[str, str, str]] = {
    "cpu": ("CpuUtilizationPercentage", DEPLOYMENT_METRIC_NAMESPACE, "deployment"),
    "memory": ("CpuMemoryUtilizationPercentage", DEPLOYMENT_METRIC_NAMESPACE, "deployment"),
    "gpu": ("GpuUtilizationPercentage", DEPLOYMENT_METRIC_NAMESPACE, "deployment"),
    "requests_per_replica": ("RequestsPerMinute", ENDPOINT_METRIC_NAMESPACE, "endpoint"),
}
SCALE_IN_RATIO = 0.5  # scale in below half the target: hysteresis, so the two rules never flap
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


# Where Azure ML's data collector writes when no data asset is named: the workspace's default blob store.
DEFAULT_CAPTURE = "azureml://datastores/workspaceblobstore"


def data_collector(t: AzureTarget) -> dict[str, Any] | None:
    """`monitoring.capture` as the deployment's data collector: payload logging of the request and response
    bodies (it works for any container; `model_inputs`/`model_outputs` need Azure's SDK inside the model),
    no headers, to the workspace blob store, files rolled hourly."""
    cap = t.monitoring.capture
    if cap is None:
        return None
    # "enabled" is azure-ai-ml's spelling on the wire
    collection = {"dataCollectionMode": "enabled", "samplingRate": cap.percent / 100}
    return {
        "collections": {"request": collection, "response": dict(collection)},
        "requestLogging": {"captureHeaders": []},
        "rollingRate": "Hour",
    }


def iso_seconds(seconds: int) -> str:
    """120 -> PT2M, 90 -> PT1M30S: the ISO-8601 durations ARM expects."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    out = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return out if out != "PT" else "PT0S"


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


PLACEHOLDER = Identity(REVISION, placeholder("digest"), placeholder("image"), DEPLOY_TIME, ACTOR)


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
            data_collector=data_collector(t),
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
