"""`provider: azure`: Azure ML managed online endpoints with traffic-shifting rollouts."""

from scalectl.registry import LeaseStoreRef, Platform

from .schema import AzureTarget

PLATFORM = Platform(
    name="azure",
    schema=AzureTarget,
    provider="scalectl.providers.azure.provider:AzureProvider",
    extra="azure",
    sdk_modules=("azure",),
    pricing="scalectl.providers.azure.pricing",
    description="Azure ML managed online endpoint",
    lease_stores=(
        LeaseStoreRef(
            "azblob",
            "scalectl.providers.azure.lease:AzureBlobLease",
            r"[a-z0-9]{3,24}/[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]",
            "azblob://account/container",
        ),
    ),
)
