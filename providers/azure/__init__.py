"""`provider: azure`: Azure ML managed online endpoints with traffic-shifting rollouts."""

from scalectl.registry import Platform

from .schema import AzureTarget

PLATFORM = Platform(
    name="azure",
    schema=AzureTarget,
    provider="scalectl.providers.azure.provider:AzureProvider",
    extra="azure",
    sdk_modules=("azure",),
    pricing="scalectl.providers.azure.pricing",
    description="Azure ML managed online endpoint",
)
