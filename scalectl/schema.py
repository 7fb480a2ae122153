"""The shared pieces of a target's model: the container contract, autoscaling, rollout, durations.

Providers build their target schema on `TargetBase`; `scalectl.config` joins them into the
`targets.<name>` union from the provider registry. Nothing here knows any platform.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

SECRET_SCHEMES = ("env", "file", "aws-sm", "aws-ssm", "gcp-sm", "azure-kv")

_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(value: Any) -> int:
    """`90`, `"90s"`, `"5m"`, `"1h30m"` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m or 1h")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        m = _DURATION.match(value)
        if m and any(m.groups()):
            h, mi, s = (int(g) if g else 0 for g in m.groups())
            return h * 3600 + mi * 60 + s
    raise ValueError(f"expected a duration like 30s, 5m or 1h, got {value!r}")


Duration = Annotated[int, BeforeValidator(parse_duration)]

_MILLIS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")


def parse_millis(value: Any) -> float:
    """`250ms`, `0.25s`, `250` (milliseconds) -> milliseconds."""
    if isinstance(value, bool):
        raise ValueError("expected a latency like 250ms or 1.5s")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("a latency must be positive")
        return float(value)
    if isinstance(value, str):
        m = _MILLIS.match(value)
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) * (1000 if m.group(2) == "s" else 1)
    raise ValueError(f"expected a latency like 250ms or 1.5s, got {value!r}")


Millis = Annotated[float, BeforeValidator(parse_millis)]


# Docker's image reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest].
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
# A URL path (RFC 3986 segments) without the characters that mean something to nginx or HTTP framing.
_ROUTE = re.compile(r"^/[A-Za-z0-9._~!*+,=:@%/-]*$")
# What may follow `scheme://` in a secret reference: ids, ARNs, paths and versions, nothing that breaks a line.
_SECRET_REFERENCE = re.compile(r"^[A-Za-z0-9._~:/@+=,%-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def image_reference(value: str) -> str:
    """Refuse what no registry accepts, before it reaches a request, a label or a config comment."""
    if not _IMAGE.fullmatch(value):
        shown = value if value.isprintable() else repr(value)
        raise ValueError(
            f"{shown} is not a container image reference (expected [registry/]name[:tag][@sha256:digest], "
            "lowercase name, no spaces or control characters)"
        )
    return value


ImageRef = Annotated[str, AfterValidator(image_reference)]


def _stringify(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


EnvValue = Annotated[str, BeforeValidator(_stringify)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    """The one container every target runs (SageMaker's serving contract)."""

    image: ImageRef = Field(min_length=1, description="Container image; `${VAR}` is filled from the environment.")
    build: str | None = Field(None, description="Docker targets: build `image` from this directory first.")
    artifact: str | None = Field(None, description="Model files: s3://, gs://, azureml:// or a local path.")
    port: int = Field(8080, ge=1, le=65535)
    health: str = Field("/ping", description="GET route that answers 200 when the model is ready")
    predict: str = Field("/invocations", description="POST route that returns predictions")
    env: dict[str, EnvValue] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="NAME: reference (env://VAR, aws-sm://id, gcp-sm://name, azure-kv://vault/name). Never values.",
    )

    @field_validator("secrets")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        return _secret_references(value)

    @field_validator("health", "predict")
    @classmethod
    def _route(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"a route must start with '/', e.g. /{value}")
        if not _ROUTE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a URL path: use letters, digits and - . _ ~ / : @ % (no spaces, quotes, "
                "query strings or control characters)"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _env_var_names(value)


def _secret_references(value: dict[str, str]) -> dict[str, str]:
    """Names are environment variable names (they double as the gateway's API-key header name);
    references are `scheme://id` with no whitespace, quotes or braces."""
    _env_var_names(value, what="secret name")
    for name, ref in value.items():
        scheme = ref.split("://", 1)[0] if "://" in ref else ""
        if scheme not in SECRET_SCHEMES:
            raise ValueError(
                f"secret {name} must be a reference like env://VAR or aws-sm://id "
                f"(schemes: {', '.join(SECRET_SCHEMES)}), never the value itself"
            )
        if not _SECRET_REFERENCE.fullmatch(ref.split("://", 1)[1]):
            raise ValueError(
                f"secret {name}: the reference after {scheme}:// may hold letters, digits and - . _ ~ : / @ + = , % "
                "only (no spaces, quotes, braces or line breaks)"
            )
    return value


def _env_var_names(value: dict[str, str], what: str = "environment variable name") -> dict[str, str]:
    for name in value:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{what} {name!r} is not valid: use letters, digits and '_', not starting with a digit")
    return value


def env_name(value: str) -> str:
    """One environment-variable name (a secret's name, which the Docker gateway also uses as a key name)."""
    _env_var_names({value: ""}, what="name")
    return value


EnvName = Annotated[str, AfterValidator(env_name)]


class ModelOverride(Strict):
    """What differs about the model on one target: its artifact store, its secret manager, an image.

    `env` and `secrets` are merged over `model`'s by name; `image` and `artifact` replace it.
    """

    image: ImageRef | None = Field(None, min_length=1)
    artifact: str | None = Field(None, description="this platform's copy of the model files (gs://, azureml:...)")
    env: dict[str, EnvValue] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, description="NAME: reference in this platform's manager")

    @field_validator("secrets")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        return _secret_references(value)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _env_var_names(value)


Metric = Literal["requests_per_replica", "cpu", "gpu", "accelerator_duty_cycle", "memory"]


class Autoscaling(Strict):
    """Replica bounds and the metric that moves them."""

    min: int = Field(1, ge=0)
    max: int = Field(1, ge=1)
    metric: Metric = "requests_per_replica"
    target: float = Field(50, gt=0, description="requests/s per replica, or utilisation percent")
    scale_in_cooldown: Duration = 300
    scale_out_cooldown: Duration = 60

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.metric in ("cpu", "gpu", "accelerator_duty_cycle", "memory") and self.target > 100:
            raise ValueError(f"target for metric {self.metric} is a percentage (1-100), got {self.target}")
        return self


class Rollout(Strict):
    """How a new revision takes traffic, and when it is rolled back."""

    strategy: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    percent: int = Field(10, ge=1, le=99, description="canary share, or linear step size")
    bake: Duration = Field(60, description="wait at each traffic step before the next")
    auto_rollback: bool = True
    alarms: list[str] = Field(default_factory=list, description="AWS: CloudWatch alarms that roll back")
    max_error_rate: float | None = Field(None, gt=0, le=1, description="roll back above this 5xx share")
    max_p99: Millis | None = Field(None, description="roll back when the new revision's P99 latency is above this")
    max_p99_ratio: float | None = Field(
        None, gt=1, description="roll back when the new revision's P99 is more than this many times the previous one's"
    )
    timeout: Duration = Field(1800, description="give up (and roll back) after this long")
    min_requests: int = Field(
        20, ge=0, description="requests a bake must see to judge; fewer: bake on until timeout, then roll back"
    )


class Lock(Strict):
    """Where the deploy lease lives, so runners with separate state directories take turns."""

    store: str | None = Field(
        None,
        description="s3://bucket/prefix, dynamodb://table, gs://bucket/prefix or azblob://account/container; "
        "default: where the target lives when its platform keeps one (Docker), else the local journal only",
    )
    ttl: Duration = Field(60, ge=2, le=3600, description="a lease not renewed for this long may be taken over")

    @field_validator("store")
    @classmethod
    def _store(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from scalectl.registry import lease_stores

        known = lease_stores()
        scheme, sep, rest = value.partition("://")
        examples = ", ".join(ref.example for ref in known.values())
        if not sep or scheme not in known:
            raise ValueError(f"unknown lock store {value!r}; expected one of: {examples}")
        if not re.fullmatch(known[scheme].pattern, rest):
            raise ValueError(f"{value!r} is not a valid {scheme}:// lock store (expected {known[scheme].example})")
        return value


class Capture(Strict):
    """Sampled request and response bodies (never headers or the API key), written where the platform can."""

    percent: float = Field(gt=0, le=100, description="share of calls captured")
    destination: str = Field(
        min_length=1,
        description="aws: s3://bucket/prefix; gcp: bq://project.dataset.table; azure: azureml:// datastore path; "
        "docker/kubernetes: a directory (JSON lines, rotated by size)",
    )
    max_file_mb: int = Field(64, ge=1, le=4096, description="docker/kubernetes: start a new file past this size")


class DriftThresholds(Strict):
    """When `scalectl drift` calls a feature drifted (flags override these)."""

    psi: float = Field(0.2, gt=0, description="population stability index at or above this is drift")
    ks_p: float = Field(0.01, ge=0, le=1, description="numbers: a Kolmogorov-Smirnov p-value below this is drift")
    chi2_p: float = Field(0.01, ge=0, le=1, description="categories: a chi-square p-value below this is drift")
    min_samples: int = Field(30, ge=1, description="fewer recent values than this: no verdict for the feature")


class Monitoring(Strict):
    """Request capture (off unless asked for) and the drift thresholds."""

    capture: Capture | None = None
    drift: DriftThresholds = Field(default_factory=DriftThresholds)  # type: ignore[arg-type]


class Defaults(Strict):
    """Inherited by every target; a target's own keys win."""

    autoscaling: dict[str, Any] | None = None
    rollout: dict[str, Any] | None = None
    monitoring: dict[str, Any] | None = None
    tags: dict[str, str] | None = None
    keep_revisions: int | None = None
    lock: dict[str, Any] | None = None


class TargetBase(Strict):
    """What every target has, whatever its platform; a provider's schema adds its own keys."""

    provider: str
    model: ModelOverride | None = Field(None, description="per-target changes to `model` (artifact, secrets, env)")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)  # type: ignore[arg-type]
    rollout: Rollout = Field(default_factory=Rollout)  # type: ignore[arg-type]
    spot: bool = False
    tags: dict[str, EnvValue] = Field(default_factory=dict)
    keep_revisions: int = Field(3, ge=1, le=50, description="previous revisions kept for fast rollback")
    hourly_cost: float | None = Field(None, ge=0, description="override the catalog's USD/hour per replica")
    lock: Lock | None = Field(None, description="where the deploy lease lives (not part of the revision digest)")
    monitoring: Monitoring = Field(default_factory=Monitoring)
    wave: int = Field(
        1,
        ge=1,
        le=100,
        strict=True,
        description="deploy order when several targets deploy at once: wave 1 first (in parallel), then 2, ...; "
        "a failed wave stops later ones (not part of the revision digest)",
    )

    @field_validator("wave", mode="before")
    @classmethod
    def _wave(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise ValueError(f"wave must be a whole number from 1 to 100 (1 deploys first), got {value!r}")
        return value


class Traffic(Strict):
    """A day's load, for cost-estimate."""

    peak_rps: float = Field(ge=0)
    offpeak_rps: float = Field(0, ge=0)
    peak_hours_per_day: float = Field(8, ge=0, le=24)
    replica_rps: float = Field(gt=0, description="requests/s one replica serves at target latency")
