"""`provider: gcp`: Vertex AI endpoints (TPU and spot included) with stepped traffic rollouts."""

from scalectl.registry import Platform

from .schema import GcpTarget

PLATFORM = Platform(
    name="gcp",
    schema=GcpTarget,
    provider="scalectl.providers.gcp.provider:GcpProvider",
    extra="gcp",
    sdk_modules=("google",),
    pricing="scalectl.providers.gcp.pricing",
    description="Vertex AI online prediction",
)
