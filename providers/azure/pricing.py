"""Azure ML prices: managed online endpoints bill the VM, so a target pays its Azure VM row."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scalectl.catalog import Catalog, Hardware, Offering, from_row, hardware_of, unknown_type
from scalectl.cost import Rate

NO_SPOT = "not offered for Azure ML managed online endpoints"
DEFAULT_REGION = "eastus"


def rate(catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
    rate, hw = _instance_rate(catalog, target.instance, target.region)
    return rate, hw, target.instance, target.region


def types(catalog: Catalog) -> list[str]:
    return catalog.types_of("azure", "vm")


def catalog_types(name: str) -> set[str]:
    return set()


def offerings(catalog: Catalog) -> list[Offering]:
    out: list[Offering] = []
    for instance in catalog.types_of("azure", "vm"):
        for region in catalog.regions("azure", "vm", instance):
            rate, hw = _instance_rate(catalog, instance, region)
            out.append(Offering("azure", instance, region, hw, rate))
    return out


def _instance_rate(catalog: Catalog, instance: str, region: str) -> tuple[Rate, Hardware]:
    row = catalog.row("azure", "vm", instance, region)
    if row is None:
        unknown_type(catalog, "azure", "instance", instance, region, catalog.regions("azure", "vm", instance))
    rate = from_row(row, "list", spot=False, spot_note=NO_SPOT)
    return replace(rate, source=f"Azure VM rate (managed online endpoints bill the VM) from {row.source}"), hardware_of(
        row
    )
