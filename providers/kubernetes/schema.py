"""`provider: kubernetes` target keys: a namespace on a cluster, pod resources, GPUs, spot node pools."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from scalectl.schema import Duration, Strict, TargetBase, _env_var_names

# Kubernetes quantity grammar (k8s.io/apimachinery resource.Quantity): a decimal, then an
# optional binary (Ki..Ei), decimal (n, u, m, k, M..E) or exponent suffix.
_QUANTITY = re.compile(r"^[+]?(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
# RFC 1123 label: what Namespace, Service and Deployment names must be.
DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def quantity(value: str) -> str:
    """Refuse what the API server would refuse, so `validate` catches `2GB` (it means `2G` or `2Gi`)."""
    if not _QUANTITY.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity: use a number with an optional suffix, "
            "e.g. 500m or 2 (CPU), 512Mi or 8Gi (memory)"
        )
    return value


Quantity = Annotated[str, AfterValidator(quantity)]


class Resources(Strict):
    """Per-pod requests and limits, as Kubernetes quantities."""

    cpu: Quantity = Field("1", description="CPU request per pod (e.g. 500m, 2)")
    memory: Quantity = Field("2Gi", description="memory request per pod (e.g. 512Mi, 8Gi)")
    cpu_limit: Quantity | None = Field(None, description="CPU limit; unset: no CPU limit (no throttling)")
    memory_limit: Quantity | None = Field(None, description="memory limit; unset: the memory request")


class KubernetesTarget(TargetBase):
    provider: Literal["kubernetes"]
    context: str | None = Field(None, description="kubeconfig context; unset: the current context, or in-cluster")
    namespace: str = Field("default", description="namespace the objects live in (it must exist)")
    resources: Resources = Field(default_factory=Resources)  # type: ignore[arg-type]
    gpus: int = Field(0, ge=0, le=16, description="GPUs per pod, as nvidia.com/gpu limits")
    spot: bool | Literal["prefer"] = Field(  # type: ignore[assignment]  # wider than TargetBase's bool, on purpose
        False, description="true: only spot nodes; prefer: spot nodes when there are some, else on-demand"
    )
    cloud: Literal["eks", "gke", "aks"] | None = Field(
        None, description="the managed service: picks the spot node label/taint and the termination grace"
    )
    node_instance: str | None = Field(None, description="node VM type, for cost-estimate (e.g. g5.xlarge)")
    region: str | None = Field(None, description="the cluster's region, for cost-estimate")
    gateway: str | None = Field(
        None,
        description="Gateway API Gateway (name or namespace/name) the HTTPRoute attaches to; unset: traffic is "
        "split by replica ratio behind the Service",
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="ENV_NAME: secret-name/key of a Kubernetes Secret in the namespace (a reference, never a value)",
    )
    capture_image: str | None = Field(
        None,
        description="monitoring.capture: an image with scalectl installed (`pip install scalectl`) for the capture "
        "sidecar, which runs `python -m scalectl.capture_proxy` in every pod",
    )
    startup_timeout: Duration = Field(
        600, description="how long new pods may take to become ready before the deploy fails and rolls back"
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not DNS_LABEL.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid namespace name: lowercase letters, digits and '-', at most 63 "
                "characters, starting and ending with a letter or digit"
            )
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_refs(cls, value: dict[str, str]) -> dict[str, str]:
        _env_var_names(value, what="secret name")
        for env, ref in value.items():
            name, _, key = ref.partition("/")
            if not key or not DNS_LABEL.fullmatch(name) or not _SECRET_KEY.fullmatch(key):
                raise ValueError(
                    f"secret {env}: expected secret-name/key naming a Kubernetes Secret and one of its keys "
                    f"(e.g. model-keys/api-token), got {ref!r}; never put the value here"
                )
        return value
