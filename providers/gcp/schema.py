"""`provider: gcp` target keys: a Vertex AI endpoint, GPUs or TPUs, spot."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scalectl.schema import Duration, Strict, TargetBase


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
