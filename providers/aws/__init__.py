"""`provider: aws`: SageMaker real-time endpoints (Inf2 included) with guardrail rollouts."""

from scalectl.registry import LeaseStoreRef, Platform

from .schema import AwsTarget

PLATFORM = Platform(
    name="aws",
    schema=AwsTarget,
    provider="scalectl.providers.aws.provider:AwsProvider",
    extra="aws",
    sdk_modules=("boto3", "botocore"),
    pricing="scalectl.providers.aws.pricing",
    description="SageMaker real-time endpoint",
    lease_stores=(
        LeaseStoreRef(
            "s3",
            "scalectl.providers.aws.lease:S3Lease",
            r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?",
            "s3://bucket/prefix",
        ),
        LeaseStoreRef(
            "dynamodb", "scalectl.providers.aws.lease:DynamoLease", r"[A-Za-z0-9_.-]{3,255}", "dynamodb://table"
        ),
    ),
)
