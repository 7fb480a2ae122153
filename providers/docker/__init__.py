"""`provider: docker`: replicas of the model on a local Docker engine behind an nginx gateway."""

from scalectl.registry import Platform

from .schema import DockerTarget

PLATFORM = Platform(
    name="docker",
    schema=DockerTarget,
    provider="scalectl.providers.docker.provider:DockerProvider",
    extra="docker",
    sdk_modules=("docker",),
    pricing="scalectl.providers.docker.pricing",
    description="replicas behind a local gateway",
    lease="scalectl.providers.docker.lease:lease",
)
