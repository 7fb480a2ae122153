"""`provider: gcp`: Vertex AI endpoints (TPU and spot included) with stepped traffic rollouts."""

from scalectl.registry import LeaseStoreRef, Platform

from .schema import GcpTarget

PLATFORM = Platform(
    name="gcp",
    schema=GcpTarget,
    provider="scalectl.providers.gcp.provider:GcpProvider",
    extra="gcp",
    sdk_modules=("google",),
    pricing="scalectl.providers.gcp.pricing",
    description="Vertex AI online prediction",
    lease_stores=(
        LeaseStoreRef(
            "gs",
            "scalectl.providers.gcp.lease:GcsLease",
            r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[A-Za-z0-9._/-]*)?",
            "gs://bucket/prefix",
        ),
    ),
)
