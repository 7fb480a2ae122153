"""`provider: azure` target keys: an Azure ML managed online endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scalectl.schema import Duration, TargetBase


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
