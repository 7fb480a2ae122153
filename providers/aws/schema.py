"""`provider: aws` target keys: a SageMaker real-time endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scalectl.schema import Duration, TargetBase


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
