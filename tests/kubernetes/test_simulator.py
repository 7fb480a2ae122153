"""The simulator speaks the protocol the official client expects: typed calls parse its answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.kubernetes.simulator import KubeSim

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "a"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "acme/web:1"}]},
        },
    },
}


@pytest.fixture
def apps(tmp_path: Path) -> tuple[KubeSim, client.AppsV1Api]:
    sim = KubeSim(ready_seconds=0.05)
    sim.start()
    api_client = config.new_client_from_config(config_file=str(sim.kubeconfig(tmp_path / "kc")))
    yield sim, client.AppsV1Api(api_client)  # type: ignore[misc]
    sim.stop()
    assert sim.errors == []


def test_typed_client_round_trip_with_conflicts_and_selectors(apps: tuple[KubeSim, client.AppsV1Api]) -> None:
    sim, api = apps
    created = api.create_namespaced_deployment("ml", DEPLOYMENT)
    assert created.metadata.generation == 1 and created.status.ready_replicas == 0
    with pytest.raises(ApiException) as exists:
        api.create_namespaced_deployment("ml", DEPLOYMENT)
    assert exists.value.status == 409

    assert [d.metadata.name for d in api.list_namespaced_deployment("ml", label_selector="app=web,tier=a").items] == [
        "web"
    ]
    assert api.list_namespaced_deployment("ml", label_selector="app=web,tier=b").items == []

    patched = api.patch_namespaced_deployment("web", "ml", {"spec": {"replicas": 3}})
    assert patched.metadata.generation == 2
    with pytest.raises(ApiException) as conflict:
        api.replace_namespaced_deployment("web", "ml", api.api_client.sanitize_for_serialization(created))
    assert conflict.value.status == 409 and "has been modified" in conflict.value.body

    sim.fail(429, count=1)  # a GET is retried by urllib3 itself, honouring Retry-After
    assert api.read_namespaced_deployment("web", "ml").spec.replicas == 3
    sim.fail(429, count=1, match="POST")  # a POST is not: the caller sees the throttling
    with pytest.raises(ApiException) as throttled:
        api.create_namespaced_deployment("ml", {**DEPLOYMENT, "metadata": {"name": "web2", "labels": {}}})
    assert throttled.value.status == 429 and throttled.value.headers["Retry-After"] == "0"

    api.delete_namespaced_deployment("web", "ml")
    with pytest.raises(ApiException) as gone:
        api.read_namespaced_deployment("web", "ml")
    assert gone.value.status == 404


def test_discovery_lists_gateway_api_only_when_served(apps: tuple[KubeSim, client.AppsV1Api]) -> None:
    sim, api = apps
    apis = client.ApisApi(api.api_client)
    assert "gateway.networking.k8s.io" in [g.name for g in apis.get_api_versions().groups]
    sim.gateway_api = False
    assert "gateway.networking.k8s.io" not in [g.name for g in apis.get_api_versions().groups]
