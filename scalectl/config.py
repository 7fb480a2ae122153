"""scale.yaml -> typed model.

The models are strict (unknown keys are errors) and every finding carries a place in the
file. `load_config` is the one entry point: read, interpolate `${VAR}`, merge `defaults:`
into each target, validate, then run each provider's offline capability checks.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from scalectl.errors import ConfigError, Diagnostic, did_you_mean
from scalectl.yamlsource import Document, interpolate, merge_defaults, read_document

PROVIDERS = ("docker", "aws", "gcp", "azure")
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

    image: str = Field(min_length=1, description="Container image; `${VAR}` is filled from the environment.")
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
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _env_var_names(value)


def _secret_references(value: dict[str, str]) -> dict[str, str]:
    for name, ref in value.items():
        scheme = ref.split("://", 1)[0] if "://" in ref else ""
        if scheme not in SECRET_SCHEMES:
            raise ValueError(
                f"secret {name} must be a reference like env://VAR or aws-sm://id "
                f"(schemes: {', '.join(SECRET_SCHEMES)}), never the value itself"
            )
    return value


def _env_var_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"environment variable name {name!r} is not valid")
    return value


class ModelOverride(Strict):
    """What differs about the model on one target: its artifact store, its secret manager, an image.

    `env` and `secrets` are merged over `model`'s by name; `image` and `artifact` replace it.
    """

    image: str | None = Field(None, min_length=1)
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
    timeout: Duration = Field(1800, description="give up (and roll back) after this long")


class Defaults(Strict):
    """Inherited by every target; a target's own keys win."""

    autoscaling: dict[str, Any] | None = None
    rollout: dict[str, Any] | None = None
    tags: dict[str, str] | None = None
    keep_revisions: int | None = None


class TargetBase(Strict):
    model: ModelOverride | None = Field(None, description="per-target changes to `model` (artifact, secrets, env)")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)  # type: ignore[arg-type]
    rollout: Rollout = Field(default_factory=Rollout)  # type: ignore[arg-type]
    spot: bool = False
    tags: dict[str, EnvValue] = Field(default_factory=dict)
    keep_revisions: int = Field(3, ge=1, le=50, description="previous revisions kept for fast rollback")
    hourly_cost: float | None = Field(None, ge=0, description="override the catalog's USD/hour per replica")


def _gpus(value: Any) -> Any:
    ok = (
        value is None
        or value == "all"
        or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
        or (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
    )
    if not ok:
        raise ValueError(f"expected `all`, a GPU count (>= 1), or a list of GPU ids like [0, 1]; got {value!r}")
    return value


class DockerTarget(TargetBase):
    provider: Literal["docker"]
    replicas: int = Field(1, ge=1, le=64)
    port: int = Field(8000, ge=1, le=65535, description="gateway port on the host")
    host: str = Field("127.0.0.1", description="address the gateway binds on the host")
    gpus: Annotated[Literal["all"] | int | list[int] | None, BeforeValidator(_gpus)] = Field(
        None, description="`all`, a count, or GPU ids; needs the NVIDIA container runtime"
    )
    gpus_per_replica: int | None = Field(None, ge=1)
    gateway_image: str = "nginx:1.27-alpine"
    rate_limit: int | None = Field(None, ge=1, description="requests/s per client at the gateway")
    api_key: str | None = Field(None, description="name of a model.secrets entry the gateway checks as a header")
    startup_timeout: Duration = Field(
        300, description="how long new replicas may take to pass the health route before the deploy fails"
    )


class AwsTarget(TargetBase):
    provider: Literal["aws"]
    region: str
    instance: str
    execution_role: str | None = None
    endpoint_name: str | None = None
    variant: str = "AllTraffic"
    instance_count: int | None = Field(None, ge=1, description="initial count; default autoscaling.min")
    volume_size_gb: int | None = Field(None, ge=1, le=512)
    startup_timeout: Duration | None = None
    download_timeout: Duration | None = None
    rolling_batch: int | None = Field(None, ge=1, description="use a rolling update in batches of N instances")
    termination_wait: Duration = Field(
        0, description="keep the old fleet this long after traffic moved (SageMaker TerminationWaitInSeconds)"
    )


class Accelerator(Strict):
    type: str
    count: int = Field(1, ge=1)


class GcpTarget(TargetBase):
    provider: Literal["gcp"]
    project: str
    region: str
    machine: str = Field(description="Vertex AI machine type, e.g. g2-standard-8 or ct5lp-hightpu-1t")
    accelerator: Accelerator | None = Field(None, description="GPU type and count; implied by g2/a2/a3 machines")
    tpu_topology: str | None = Field(None, description="TPU slice topology, e.g. 2x2; default: the machine's own")
    service_account: str | None = Field(None, description="service account the deployed model runs as")
    endpoint_name: str | None = Field(None, description="display name of the Vertex endpoint; default <name>-<target>")
    api_endpoint: str | None = Field(
        None,
        description="Vertex API host; default <region>-aiplatform.googleapis.com "
        "(env SCALECTL_GCP_API_ENDPOINT overrides; http:// is for local emulators only)",
    )
    undeploy_grace: Duration = Field(
        30, description="keep the old deployed model warm this long after the new one takes 100% traffic"
    )


class AzureTarget(TargetBase):
    provider: Literal["azure"]
    subscription: str
    resource_group: str
    workspace: str
    instance: str
    region: str = Field(
        "eastus", description="the workspace's region: location of the endpoint and autoscale setting; cost-estimate"
    )
    auth_mode: Literal["key", "aml_token"] = "key"
    endpoint_name: str | None = Field(None, description="managed online endpoint name; default <name>-<target>")
    mirror: int | None = Field(
        None, ge=1, le=50, description="mirror this percent of live traffic to the new deployment for one bake first"
    )
    request_timeout: Duration = Field(5, ge=1, le=180, description="scoring request timeout (Azure allows 1-180 s)")
    max_concurrent_requests: int = Field(1, ge=1, le=1000, description="concurrent requests per instance")
    startup_delay: Duration = Field(10, le=3600, description="wait before the first liveness/readiness probe")


TargetConfig = DockerTarget | AwsTarget | GcpTarget | AzureTarget
Target = Annotated[Union[DockerTarget, AwsTarget, GcpTarget, AzureTarget], Field(discriminator="provider")]  # noqa: UP007


class Traffic(Strict):
    """A day's load, for cost-estimate."""

    peak_rps: float = Field(ge=0)
    offpeak_rps: float = Field(0, ge=0)
    peak_hours_per_day: float = Field(8, ge=0, le=24)
    replica_rps: float = Field(gt=0, description="requests/s one replica serves at target latency")


class ScaleFile(Strict):
    """The whole scale.yaml."""

    version: Literal[1] = Field(description="file format version")
    name: str = Field(description="application name: lowercase letters, digits and '-', at most 40 characters")
    model: ModelSpec
    defaults: Defaults = Field(default_factory=Defaults)
    targets: dict[str, Target] = Field(min_length=1)
    traffic: Traffic | None = None

    @field_validator("name")
    @classmethod
    def _app_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", value):
            raise ValueError(
                f"name {value!r} must start with a letter and use only lowercase letters, digits and '-' "
                "(at most 40 characters): it becomes part of cloud resource names"
            )
        return value

    @field_validator("targets")
    @classmethod
    def _target_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", name):
                raise ValueError(f"target name {name!r} must be lowercase letters, digits and '-', <= 31 chars")
        return value


def json_schema() -> dict[str, Any]:
    schema = ScaleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "scalectl scale.yaml"
    return schema


@dataclass(frozen=True)
class Config:
    """A validated scale file and where it came from."""

    path: Path
    spec: ScaleFile
    document: Document
    warnings: tuple[Diagnostic, ...] = ()

    def select(self, names: Sequence[str] | None) -> list[str]:
        """Target names to act on: all when none given; unknown names are bad input."""
        if not names:
            return list(self.spec.targets)
        unknown = [n for n in names if n not in self.spec.targets]
        if unknown:
            from scalectl.errors import UsageError

            hints = did_you_mean(unknown[0], list(self.spec.targets))
            raise UsageError(
                f"unknown target {unknown[0]!r} in {self.path}{hints}; targets are: {', '.join(self.spec.targets)}"
            )
        return list(dict.fromkeys(names))


def effective_model(spec: ScaleFile, target: str) -> ModelSpec:
    """`model` as one target runs it: the target's `model:` overrides applied."""
    override = spec.targets[target].model
    if override is None:
        return spec.model
    base = spec.model
    return base.model_copy(
        update={
            "image": override.image or base.image,
            "artifact": override.artifact or base.artifact,
            "env": {**base.env, **override.env},
            "secrets": {**base.secrets, **override.secrets},
        }
    )


def digest(spec: ScaleFile, target: str) -> str:
    """Content digest of what a target runs: the model plus the target's settings."""
    payload = {
        "name": spec.name,
        "model": spec.model.model_dump(mode="json"),
        "target": spec.targets[target].model_dump(mode="json"),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def load_config(
    path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    targets: Sequence[str] | None = None,
    check_providers: bool = True,
) -> Config:
    """Read, interpolate, merge defaults, validate and capability-check a scale file.

    Raises ConfigError carrying every finding with its place; never a traceback.
    """
    path = Path(path)
    doc = read_document(path)
    problems = interpolate(doc, env)
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError([doc.locate(Diagnostic("the file must be a mapping (key: value), not a list or a scalar"))])

    defaults = data.get("defaults")
    if isinstance(defaults, dict) and isinstance(data.get("targets"), dict):
        for name, tgt in data["targets"].items():
            if isinstance(tgt, dict):
                merge_defaults(doc, defaults, name)

    spec: ScaleFile | None = None
    try:
        spec = ScaleFile.model_validate(data)
    except ValidationError as exc:
        problems += [doc.locate(d) for d in _diagnostics_from(exc, data)]

    warnings: list[Diagnostic] = []
    if spec is not None and check_providers:
        from scalectl.provider import check_target

        names = list(spec.targets) if not targets else [t for t in targets if t in spec.targets]
        for name in names:
            for d in check_target(spec, name, path.resolve().parent):
                located = doc.locate(d)
                (warnings if d.severity == "warning" else problems).append(located)

    problems = _dedupe(problems)
    if problems:
        raise ConfigError(problems + _dedupe(warnings))
    assert spec is not None
    return Config(path=path, spec=spec, document=doc, warnings=tuple(_dedupe(warnings)))


def _dedupe(items: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[int, int, str]] = set()
    out = []
    for d in items:
        key = (d.line, d.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return sorted(out, key=lambda d: (d.line, d.column))


def _diagnostics_from(exc: ValidationError, data: Any) -> list[Diagnostic]:
    """Pydantic errors -> findings with document paths and messages written for people."""
    grouped: dict[tuple[str | int, ...], list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = _document_loc(tuple(err["loc"]))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _fields_at(loc[:-1], data)
            message = f"unknown key `{key}`{did_you_mean(key, allowed)}"
            if allowed:
                message += f"; allowed here: {', '.join(sorted(allowed))}"
        elif kind == "missing":
            message = f"required key `{loc[-1]}` is missing"
        elif kind == "union_tag_invalid":
            given = str(err.get("ctx", {}).get("tag", ""))
            loc = (*loc, "provider")
            message = (
                f"unknown provider `{given}`{did_you_mean(given, list(PROVIDERS))}; "
                f"expected one of: {', '.join(PROVIDERS)}"
            )
        elif kind == "union_tag_not_found":
            message = f"required key `provider` is missing; expected one of: {', '.join(PROVIDERS)}"
        elif kind == "too_short" and loc == ("targets",):
            message = "at least one target is required"
        else:
            message = err["msg"].removeprefix("Value error, ")
        grouped.setdefault(loc, []).append(message)
    # a value that fits none of a union's members gets one finding, not one per member
    return [Diagnostic(message="; or ".join(dict.fromkeys(msgs)), loc=loc) for loc, msgs in grouped.items()]


def _document_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's union markers (provider tags, `literal['all']`, `int`) from an error path."""
    if len(loc) >= 3 and loc[0] == "targets" and loc[2] in PROVIDERS:
        loc = (*loc[:2], *loc[3:])
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _TYPE_MARKERS or "[" in p)))


_TYPE_MARKERS = {"int", "str", "float", "bool", "none", "function-after", "function-before", "function-wrap"}


def _fields_at(loc: tuple[Any, ...], data: Any) -> list[str]:
    """Field names of the model that sits at `loc` in the document, for did-you-mean."""
    ann: Any = ScaleFile
    node = data
    for part in loc:
        ann = _resolve(ann, node)
        origin = typing.get_origin(ann)
        if origin is dict:
            ann = typing.get_args(ann)[1]
        elif origin is list:
            ann = typing.get_args(ann)[0]
        elif isinstance(ann, type) and issubclass(ann, BaseModel) and str(part) in ann.model_fields:
            ann = ann.model_fields[str(part)].annotation
        else:
            return []
        node = node.get(part) if isinstance(node, dict) else None
    ann = _resolve(ann, node)
    return list(ann.model_fields) if isinstance(ann, type) and issubclass(ann, BaseModel) else []


def _resolve(ann: Any, node: Any) -> Any:
    """Strip Annotated/Optional; pick the union member the data's `provider` names."""
    while True:
        origin = typing.get_origin(ann)
        if origin is Annotated:
            ann = typing.get_args(ann)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(options) == 1:
                ann = options[0]
                continue
            provider = node.get("provider") if isinstance(node, dict) else None
            for option in options:
                fields = getattr(option, "model_fields", {})
                if "provider" in fields and provider in typing.get_args(fields["provider"].annotation):
                    return option
            return None
        else:
            return ann
