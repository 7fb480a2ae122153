"""`provider: aws`: SageMaker real-time endpoints (Inf2 included) with guardrail rollouts."""

from scalectl.registry import Platform

from .schema import AwsTarget

PLATFORM = Platform(
    name="aws",
    schema=AwsTarget,
    provider="scalectl.providers.aws.provider:AwsProvider",
    extra="aws",
    sdk_modules=("boto3", "botocore"),
    pricing="scalectl.providers.aws.pricing",
    description="SageMaker real-time endpoint",
)
