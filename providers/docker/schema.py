"""`provider: docker` target keys: replicas behind a local gateway."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from scalectl.schema import Duration, EnvName, ImageRef, TargetBase


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


def _address(value: str) -> str:
    """The host address the gateway binds: an IP address Docker can publish on, nothing else."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        shown = value if value.isprintable() else repr(value)
        raise ValueError(f"{shown} is not an IP address (e.g. 127.0.0.1, or 0.0.0.0 for every interface)") from None
    return value


class DockerTarget(TargetBase):
    provider: Literal["docker"]
    replicas: int = Field(1, ge=1, le=64)
    port: int = Field(8000, ge=1, le=65535, description="gateway port on the host")
    host: Annotated[str, AfterValidator(_address)] = Field(
        "127.0.0.1", description="address the gateway binds on the host"
    )
    gpus: Annotated[Literal["all"] | int | list[int] | None, BeforeValidator(_gpus)] = Field(
        None, description="`all`, a count, or GPU ids; needs the NVIDIA container runtime"
    )
    gpus_per_replica: int | None = Field(None, ge=1)
    gateway_image: ImageRef = "nginx:1.27-alpine"
    capture_image: ImageRef = Field(
        "python:3.12-alpine",
        description="monitoring.capture: an image with python3 for the capture sidecar (scalectl copies its code in)",
    )
    rate_limit: int | None = Field(
        None,
        ge=1,
        description="requests/s at the gateway: per client address, or for the API key when `api_key` is set",
    )
    api_key: EnvName | None = Field(None, description="name of a model.secrets entry the gateway checks as a header")
    startup_timeout: Duration = Field(
        300, description="how long new replicas may take to pass the health route before the deploy fails"
    )
