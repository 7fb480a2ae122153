"""Kubernetes prices: a pod costs its node, so a target is priced from the node VM type it names.

`node_instance` is looked up in its cloud's VM rows (eks -> aws, gke -> gcp, aks -> azure),
with that VM's spot price when the catalog has one: spot node pools are how AWS and Azure
users reach spot capacity at all. Without a node type, `hourly_cost` is the figure.
"""

from __future__ import annotations

from typing import Any

from scalectl.catalog import Catalog, Hardware, Offering, Row, UnknownHardware, from_row, hardware_of, unknown_type
from scalectl.cost import Rate
from scalectl.errors import UsageError

NO_SPOT = ""  # every managed Kubernetes service runs spot node pools
DEFAULT_REGION = "us-east-1"
PRICE_API = ""  # none of its own: node types are priced from aws/gcp/azure VM rows, refreshed with those
CLOUD_OF = {"eks": "aws", "gke": "gcp", "aks": "azure"}


def rate(catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
    if target.node_instance is None or target.cloud is None or target.region is None:
        if target.hourly_cost is not None:  # the core puts hourly_cost over whatever is returned
            return (
                Rate(target.hourly_cost, None, "user", "hourly_cost in scale.yaml", ""),
                Hardware("", 0, 0.0),
                ("kubernetes node"),
                target.region or "",
            )
        raise UnknownHardware(
            "node_instance",
            "a kubernetes target is priced from its node type: set cloud, node_instance and region "
            "(e.g. eks, g5.xlarge, us-east-1), or hourly_cost",
        )
    provider = CLOUD_OF[target.cloud]
    row = catalog.row(provider, "vm", target.node_instance, target.region)
    if row is None:
        unknown_type(
            catalog,
            provider,
            "node_instance",
            target.node_instance,
            target.region,
            catalog.regions(provider, "vm", target.node_instance),
        )
    return _rate(row), hardware_of(row), target.node_instance, target.region


def _rate(row: Row) -> Rate:
    return from_row(row, "list", spot=True)


def types(catalog: Catalog) -> list[str]:
    return sorted({t for p in CLOUD_OF.values() for t in catalog.types_of(p, "vm")})


def catalog_types(name: str) -> set[str]:
    return set()


def offerings(catalog: Catalog) -> list[Offering]:
    """None of its own: a node type is already offered by its cloud's platform in --compare."""
    return []


def fetch(current: Catalog, today: str) -> list[Row]:
    raise UsageError(
        "kubernetes nodes are priced from their cloud's VM rows: refresh those with "
        "`scalectl catalog refresh --provider aws` (or gcp, azure)"
    )
