"""`provider: kubernetes`: per-revision Deployments behind one Service, HPA, spot node pools, canary."""

from scalectl.registry import Platform

from .schema import KubernetesTarget

PLATFORM = Platform(
    name="kubernetes",
    schema=KubernetesTarget,
    provider="scalectl.providers.kubernetes.provider:KubernetesProvider",
    extra="kubernetes",
    sdk_modules=("kubernetes",),
    pricing="scalectl.providers.kubernetes.pricing",
    description="Deployments on a Kubernetes cluster",
)
