"""The simulator enforces what Azure enforces, so the flow tests prove something.

These drive the same SDK calls the provider makes (through `Arm`) with requests scalectl never
sends, and check Azure's refusal reaches the user as a message.
"""

from __future__ import annotations

import time

import pytest
from scalectl.providers.azure.schema import AzureTarget

from scalectl.errors import ProviderError
from scalectl.events import Events
from tests.azure.helpers import FakeCredential
from tests.azure.simulator import ArmSimulator

EP = "shop-prod"


@pytest.fixture
def arm(sim: ArmSimulator):  # type: ignore[no-untyped-def]
    from scalectl.providers.azure.api import Arm

    target = AzureTarget(
        provider="azure", subscription="sub-1", resource_group="ml", workspace="prod", instance="Standard_DS3_v2"
    )
    return Arm(target, FakeCredential())  # type: ignore[arg-type]


def endpoint(traffic: dict[str, int], mirror: dict[str, int] | None = None) -> dict[str, object]:
    return {
        "location": "eastus",
        "tags": {},
        "properties": {"authMode": "Key", "traffic": traffic, "mirrorTraffic": mirror or {}},
    }


def deployment(scale_type: str = "Default", capacity: int = 1) -> dict[str, object]:
    env = "/subscriptions/sub-1/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/prod"
    return {
        "location": "eastus",
        "sku": {"name": "Default", "capacity": capacity},
        "properties": {
            "endpointComputeType": "Managed",
            "environmentId": f"{env}/environments/e/versions/1",
            "instanceType": "Standard_DS3_v2",
            "scaleSettings": {"scaleType": scale_type},
        },
    }


def settle(arm, what: str) -> str:  # type: ignore[no-untyped-def]
    fetch = (lambda: arm.get_endpoint(EP)) if what == EP else (lambda: arm.get_deployment(EP, what))
    return str(arm.wait_state(what, fetch, Events(), deadline=time.monotonic() + 5))


@pytest.fixture
def blue(arm):  # type: ignore[no-untyped-def]
    """An endpoint with one succeeded deployment `blue` taking all traffic."""
    arm.put_environment("e", "1", {"properties": {"image": "shop:1"}})
    arm.put_endpoint(EP, endpoint({}))
    assert settle(arm, EP) == "Succeeded"
    arm.put_deployment(EP, "blue", deployment())
    assert settle(arm, "blue") == "Succeeded"
    arm.put_endpoint(EP, endpoint({"blue": 100}))
    assert settle(arm, EP) == "Succeeded"
    return arm


def test_long_running_operations_move_through_states(sim: ArmSimulator, arm) -> None:  # type: ignore[no-untyped-def]
    events = Events()
    arm.put_endpoint(EP, endpoint({}))
    state = arm.wait_state("endpoint", lambda: arm.get_endpoint(EP), events, deadline=time.monotonic() + 5)
    assert state == "Succeeded"
    assert [e.data["state"] for e in events.items] == ["Creating", "Succeeded"]
    assert sim.calls[0].status == 201  # created, with an Azure-AsyncOperation header to follow


@pytest.mark.parametrize(
    ("traffic", "mirror", "says"),
    [
        ({"blue": 60}, {}, "BadArgument: Traffic values must sum to 100 (or 0); got 60"),
        ({"blue": 90, "green": 10}, {}, "deployment 'green' was not found under endpoint"),
        ({"blue": 100}, {"blue": 10}, "mirror traffic can only go to a deployment with 0% live traffic"),
    ],
)
def test_traffic_rules(blue, traffic, mirror, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError) as err:
        blue.put_endpoint(EP, endpoint(traffic, mirror))
    assert f"Azure refused to update endpoint {EP}" in err.value.message
    assert says in err.value.message


def test_mirror_is_capped_at_50_percent(blue) -> None:  # type: ignore[no-untyped-def]
    blue.put_deployment(EP, "green", deployment())
    assert settle(blue, "green") == "Succeeded"
    with pytest.raises(ProviderError, match="cannot exceed 50%"):
        blue.put_endpoint(EP, endpoint({"blue": 100}, {"green": 60}))


def test_one_endpoint_operation_at_a_time(blue) -> None:  # type: ignore[no-untyped-def]
    blue.put_endpoint(EP, endpoint({"blue": 100}))
    with pytest.raises(ProviderError, match="Conflict: Endpoint shop-prod has an operation in progress"):
        blue.put_endpoint(EP, endpoint({"blue": 100}))


def test_a_deployment_with_traffic_cannot_be_deleted(blue) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError, match="set its traffic to 0 before deleting it"):
        blue.delete_deployment(EP, "blue")


def test_managed_deployments_take_only_default_scale_settings(blue) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError, match="Scale type TargetUtilization is not supported"):
        blue.put_deployment(EP, "green", deployment(scale_type="TargetUtilization"))


def test_quota_errors_arrive_in_azure_words(sim: ArmSimulator, blue) -> None:  # type: ignore[no-untyped-def]
    sim.quota["Standard_DS3_v2"] = 2
    with pytest.raises(ProviderError, match=r"BadArgument: Not enough quota available for Standard_DS3_v2.*1/2"):
        blue.put_deployment(EP, "green", deployment(capacity=2))


def test_the_sdk_own_pollers_follow_the_simulated_operations(sim: ArmSimulator, arm) -> None:  # type: ignore[no-untyped-def]
    """Azure-AsyncOperation (PUT) and Location (DELETE) behave as azure-core's ARM pollers expect."""
    sim.endpoint_seconds = sim.delete_seconds = 0.2
    ml = arm.ml.online_endpoints
    created = ml.begin_create_or_update("ml", "prod", EP, endpoint({}), polling_interval=0.05, **arm.opts).result()
    assert created["properties"]["provisioningState"] == "Succeeded"
    ml.begin_delete("ml", "prod", EP, polling_interval=0.05, **arm.opts).result()
    assert arm.get_endpoint(EP) is None


def test_a_failed_deployment_fails_the_sdk_poller_with_azure_error(sim: ArmSimulator, blue) -> None:  # type: ignore[no-untyped-def]
    from azure.core.exceptions import HttpResponseError

    sim.failing_images.add("shop:2")
    blue.put_environment("e", "2", {"properties": {"image": "shop:2"}})
    body = deployment()
    body["properties"]["environmentId"] = body["properties"]["environmentId"].replace("/versions/1", "/versions/2")  # type: ignore[index]
    poller = blue.ml.online_deployments.begin_create_or_update(
        "ml", "prod", EP, "green", body, polling_interval=0.05, **blue.opts
    )
    with pytest.raises(HttpResponseError, match="ResourceNotReady"):
        poller.result()
