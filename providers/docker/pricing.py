"""Docker prices: a local machine has no price list; a replica costs 0 unless `hourly_cost` says otherwise."""

from __future__ import annotations

from typing import Any

from scalectl.catalog import Catalog, Hardware, Offering, Row, user_rate
from scalectl.cost import Rate
from scalectl.errors import UsageError

NO_SPOT = "not applicable to a local machine"
DEFAULT_REGION = "local"
PRICE_API = ""  # a local machine's cost is what the user says it is (hourly_cost)


def rate(catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
    """`hourly_cost` (amortised hardware + power) when set, else 0; both count as the user's figure."""
    hw = Hardware("", 0, 0.0)
    if target.hourly_cost is not None:
        return user_rate(target.hourly_cost), hw, "docker host", "local"
    default = Rate(
        0.0,
        None,
        "user",
        "default 0: set hourly_cost (amortised hardware + power) for a real figure",
        "",
        spot_note=NO_SPOT,
    )
    return default, hw, "docker host", "local"


def types(catalog: Catalog) -> list[str]:
    return []


def catalog_types(name: str) -> set[str]:
    return set()


def offerings(catalog: Catalog) -> list[Offering]:
    """None: --compare never suggests a local machine."""
    return []


def fetch(current: Catalog, today: str) -> list[Row]:
    raise UsageError("docker has no price API to refresh from: set hourly_cost on the target")
