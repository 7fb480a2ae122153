"""Azure ML prices: managed online endpoints bill the VM, so a target pays its Azure VM row.

`fetch` asks the Azure Retail Prices REST API (no auth) over urllib; base URL
`SCALECTL_AZURE_PRICES_URL`.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import replace
from typing import Any

from scalectl.catalog import Catalog, Hardware, Offering, Row, from_row, hardware_of, unknown_type
from scalectl.cost import Rate

NO_SPOT = "not offered for Azure ML managed online endpoints"
DEFAULT_REGION = "eastus"
PRICE_API = "Azure Retail Prices API"
AZURE_PRICES_URL = "https://prices.azure.com"


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


# ---------------------------------------------------------------- Azure Retail Prices


def fetch(current: Catalog, today: str) -> list[Row]:
    from scalectl.catalog_refresh import get_json  # HTTP machinery only for `catalog refresh`

    base_url = os.environ.get("SCALECTL_AZURE_PRICES_URL", AZURE_PRICES_URL).rstrip("/")
    known = {r.type: r for r in current.rows if r.provider == "azure" and r.kind == "vm"}
    rows: list[Row] = []
    for type_, ref in sorted(known.items()):
        query = urllib.parse.urlencode(
            {
                "api-version": "2023-01-01-preview",
                "$filter": f"serviceName eq 'Virtual Machines' and priceType eq 'Consumption' "
                f"and armSkuName eq '{type_}'",
            }
        )
        prices: dict[str, dict[str, float]] = {}
        url: str | None = f"{base_url}/api/retail/prices?{query}"
        while url:
            page = get_json(url, {}, "Azure Retail Prices")
            for item in page.get("Items", []):
                if item.get("armSkuName") != type_ or item.get("unitOfMeasure") != "1 Hour":
                    continue
                if "Windows" in item.get("productName", "") or "Low Priority" in item.get("skuName", ""):
                    continue
                kind = "spot" if item.get("skuName", "").endswith("Spot") else "on_demand"
                prices.setdefault(item.get("armRegionName", ""), {})[kind] = float(item["retailPrice"])
            url = page.get("NextPageLink") or None
        for region, found in sorted(prices.items()):
            if "on_demand" not in found or not region:
                continue
            spot = found.get("spot")
            rows.append(
                replace(
                    ref,
                    region=region,
                    price=found["on_demand"],
                    price_status="ok",
                    spot_price=spot,
                    spot_status="ok" if spot is not None and spot < found["on_demand"] else "not-offered",
                    source="Azure Retail Prices API (Consumption, Linux)",
                    date=today,
                )
            )
    return rows
