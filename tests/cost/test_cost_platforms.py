"""Pricing is the platform's: every built-in ships a pricing module, and one without gets a clear message."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Literal

import pytest

from scalectl import catalog as cat
from scalectl import registry
from scalectl.catalog_refresh import refresh
from scalectl.errors import UsageError
from scalectl.registry import Platform
from scalectl.schema import TargetBase


class NomadTarget(TargetBase):
    provider: Literal["nomad"]


@pytest.fixture
def nomad(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A platform registered with no pricing, as a plugin that ships no price data would be."""
    platform = Platform(name="nomad", schema=NomadTarget, provider="nomad:NomadProvider", description="Nomad job")
    monkeypatch.setitem(registry.platforms(), "nomad", platform)
    yield "nomad"


@pytest.fixture(scope="module")
def shipped() -> cat.Catalog:
    return cat.Catalog(cat.read_rows(cat.shipped_path()), "shipped")


@pytest.mark.parametrize("name", registry.builtin())
def test_every_builtin_platform_ships_a_pricing_module(name: str) -> None:
    module = registry.platform(name).pricing
    assert module == f"scalectl.providers.{name}.pricing"
    assert isinstance(importlib.import_module(module), cat.Pricing)


def test_a_platform_without_pricing_needs_hourly_cost(nomad: str, shipped: cat.Catalog) -> None:
    target = SimpleNamespace(provider=nomad, hourly_cost=None)
    with pytest.raises(cat.UnknownHardware) as exc:
        cat.rate_for(shipped, target)
    assert exc.value.field == "provider"
    assert exc.value.message == (
        "no price data for provider 'nomad': set hourly_cost (USD per replica-hour) on the target"
    )


def test_a_platform_without_pricing_bills_its_hourly_cost(nomad: str, shipped: cat.Catalog) -> None:
    target = SimpleNamespace(provider=nomad, hourly_cost=0.25, region="global")
    rate, hw, type_, region = cat.rate_for(shipped, target)
    assert (rate.on_demand, rate.basis, rate.spot, rate.parts) == (0.25, "user", None, ())
    assert (hw.describe(), type_, region) == ("CPU only", "nomad replica", "global")
    assert cat.SERVICES[nomad] == ("Nomad job", False, "no price data for provider 'nomad'")
    assert nomad in cat.SERVICES
    assert cat.offerings(shipped, nomad) == [] and shipped.types(nomad) == []
    assert cat.nearest(shipped, cat.Hardware("T4", 1, 16.0), nomad) is None


def test_services_name_each_platform_and_whether_it_sells_spot() -> None:
    assert {name: cat.SERVICES[name] for name in registry.builtin()} == {
        "docker": ("replicas behind a local gateway", False, "not applicable to a local machine"),
        "aws": ("SageMaker real-time endpoint", False, "not offered for SageMaker real-time endpoints"),
        "gcp": ("Vertex AI online prediction", True, ""),
        "azure": ("Azure ML managed online endpoint", False, "not offered for Azure ML managed online endpoints"),
        "kubernetes": ("Deployments on a Kubernetes cluster", True, ""),
    }
    with pytest.raises(KeyError):
        cat.SERVICES["nowhere"]


def test_refresh_refuses_a_platform_without_a_price_api(nomad: str) -> None:
    with pytest.raises(UsageError, match="'nomad' has no price data to refresh"):
        refresh([nomad])
    with pytest.raises(UsageError, match="docker has no price API"):
        refresh(["docker"])
