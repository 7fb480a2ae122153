"""`scalectl catalog refresh`: update the user-level catalog copy from the providers' price APIs.

- AWS Price List (`pricing.get_products`, ServiceCode AmazonSageMaker component Hosting, and
  AmazonEC2 Linux/Shared) through boto3, imported here only; the endpoint is overridable the
  standard boto3 way (`AWS_ENDPOINT_URL_PRICING` / `AWS_ENDPOINT_URL`).
- Azure Retail Prices REST API (no auth); base URL `SCALECTL_AZURE_PRICES_URL`.
- GCP Cloud Billing Catalog `services/{id}/skus` (API key `SCALECTL_GCP_API_KEY` or bearer
  token `SCALECTL_GCP_TOKEN`); base URL `SCALECTL_GCP_BILLING_URL`.

Only types the catalog already knows are asked for, so a refresh stays a few dozen calls.
The price APIs carry no spot figures for AWS (spot is a market, not a list price), so an
EC2 row keeps its previous spot figure and says so in its source. Nothing is written unless
every requested provider answered.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from scalectl.catalog import Catalog, Row, load_catalog, user_path, write_rows
from scalectl.errors import ProviderError, UsageError

Say = Callable[[str], None] | None

AZURE_PRICES_URL = "https://prices.azure.com"
GCP_BILLING_URL = "https://cloudbilling.googleapis.com"
GCP_COMPUTE_SERVICE = "6F81-5844-456A"  # Compute Engine in the Cloud Billing Catalog
HTTP_TIMEOUT = 30.0
RETRIES = 4
MAX_RETRY_WAIT = 10.0


def refresh(providers: list[str], say: Say = None) -> dict[str, Any]:
    """Fetch each provider's rows, merge them over the current catalog, write the user copy."""
    current = load_catalog()
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    fetchers = {"aws": fetch_aws, "gcp": fetch_gcp, "azure": fetch_azure}
    fresh: dict[str, list[Row]] = {}
    for name in providers:
        if say:
            say(f"{name}: asking the price API ...")
        fresh[name] = fetchers[name](current, today)
    merged = {_key(r): r for r in current.rows}
    summary: dict[str, dict[str, int]] = {}
    for name, rows in fresh.items():
        for r in rows:
            merged[_key(r)] = r
        updated = {_key(r) for r in rows}
        kept = sum(1 for k, r in merged.items() if r.provider == name and k not in updated)
        summary[name] = {"updated": len(rows), "kept": kept}
    path = user_path()
    write_rows(path, merged.values())
    return {"path": str(path), "date": today, "providers": summary}


def _key(r: Row) -> tuple[str, str, str, str, str, int]:
    return (r.provider, r.kind, r.type, r.region, r.accelerator if r.kind == "gpu" else "", r.accelerator_count)


# ---------------------------------------------------------------- AWS Price List


def fetch_aws(current: Catalog, today: str) -> list[Row]:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ModuleNotFoundError:
        raise UsageError("refreshing AWS prices needs boto3: pip install 'scalectl[aws]'") from None
    region = os.environ.get("SCALECTL_AWS_PRICING_REGION", "us-east-1")  # the API lives in us-east-1 / ap-south-1
    client = boto3.client("pricing", region_name=region)
    base = {r.type: r for r in current.rows if r.provider == "aws" and r.kind == "vm"}
    old = {(r.type, r.region): r for r in current.rows if r.provider == "aws"}
    rows: list[Row] = []
    try:
        for type_, ref in sorted(base.items()):
            ec2_filters = {
                "instanceType": type_,
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
            }
            for attrs, price, sku in _aws_products(client, "AmazonEC2", ec2_filters):
                reg = attrs.get("regionCode", "")
                prev = old.get((type_, reg))
                spot_note = f"; spot kept from {prev.source}" if prev and prev.spot_price is not None else ""
                rows.append(
                    replace(
                        ref,
                        region=reg,
                        price=price,
                        price_status="ok",
                        spot_price=prev.spot_price if prev else None,
                        spot_status=prev.spot_status if prev else "not-offered",
                        source=f"AWS Price List AmazonEC2 sku {sku}{spot_note}",
                        date=today,
                    )
                )
            hosting = "ml." + type_
            for attrs, price, sku in _aws_products(
                client, "AmazonSageMaker", {"instanceName": hosting, "component": "Hosting"}
            ):
                rows.append(
                    replace(
                        ref,
                        kind="hosting",
                        type=hosting,
                        region=attrs.get("regionCode", ""),
                        price=price,
                        price_status="ok",
                        spot_price=None,
                        spot_status="not-offered",
                        source=f"AWS Price List AmazonSageMaker Hosting sku {sku}",
                        date=today,
                    )
                )
    except (BotoCoreError, ClientError) as exc:
        raise ProviderError(f"AWS Price List: {exc}; the catalog was not changed") from None
    return [r for r in rows if r.region]


def _aws_products(client: Any, service: str, filters: dict[str, str]) -> Iterator[tuple[dict[str, str], float, str]]:
    """(attributes, on-demand USD/hour, sku) per product; products without an hourly USD price are skipped."""
    paginator = client.get_paginator("get_products")
    pages = paginator.paginate(
        ServiceCode=service,
        Filters=[{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()],
        FormatVersion="aws_v1",
    )
    for page in pages:
        for item in page.get("PriceList", []):
            product = json.loads(item) if isinstance(item, str) else item
            attrs = product.get("product", {}).get("attributes", {})
            sku = product.get("product", {}).get("sku", "")
            price = _aws_hourly(product.get("terms", {}).get("OnDemand", {}))
            if price is not None:
                yield attrs, price, sku


def _aws_hourly(on_demand: dict[str, Any]) -> float | None:
    for term in on_demand.values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if dim.get("unit") in ("Hrs", "Hours", "Hour") and usd is not None and float(usd) > 0:
                return float(usd)
    return None


# ---------------------------------------------------------------- Azure Retail Prices


def fetch_azure(current: Catalog, today: str) -> list[Row]:
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
            page = _get_json(url, {}, "Azure Retail Prices")
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


# ---------------------------------------------------------------- GCP Cloud Billing Catalog

_GCP_PART = re.compile(r"^(?:Spot Preemptible )?(\w+) (?:Predefined )?Instance (Core|Ram) running in ")
_GCP_GPU = re.compile(r"^(?:Spot Preemptible )?Nvidia (?:Tesla )?(.+?) GPU running in ")
_GCP_SKIP = ("Sole Tenancy", "Reserved", "Premium", "Custom", "suspended", "Commitment")
_GCP_GPU_NAMES = {"A100": "A100", "A100 80GB": "A100-80GB", "L4": "L4", "T4": "T4", "V100": "V100", "H100 80GB": "H100"}


def fetch_gcp(current: Catalog, today: str) -> list[Row]:
    base_url = os.environ.get("SCALECTL_GCP_BILLING_URL", GCP_BILLING_URL).rstrip("/")
    key = os.environ.get("SCALECTL_GCP_API_KEY")
    token = os.environ.get("SCALECTL_GCP_TOKEN")
    if not key and not token:
        raise UsageError(
            "refreshing GCP prices needs SCALECTL_GCP_API_KEY (an API key with the Cloud Billing API enabled) "
            "or SCALECTL_GCP_TOKEN (e.g. `gcloud auth print-access-token`)"
        )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # (family, part, spot) -> {region: USD}; (gpu, spot) -> {region: USD per GPU}
    parts: dict[tuple[str, str, bool], dict[str, float]] = {}
    gpus: dict[tuple[str, bool], dict[str, float]] = {}
    page_token = ""
    while True:
        params = {"currencyCode": "USD", "pageSize": "5000"}
        if key:
            params["key"] = key
        if page_token:
            params["pageToken"] = page_token
        url = f"{base_url}/v1/services/{GCP_COMPUTE_SERVICE}/skus?{urllib.parse.urlencode(params)}"
        page = _get_json(url, headers, "GCP Cloud Billing Catalog")
        for sku in page.get("skus", []):
            usage = sku.get("category", {}).get("usageType", "")
            if usage not in ("OnDemand", "Preemptible"):
                continue
            spot = usage == "Preemptible"
            price = _gcp_unit_price(sku)
            if price is None:
                continue
            desc = sku.get("description", "")
            if any(word in desc for word in _GCP_SKIP):
                continue  # sole-tenant, reserved, custom shapes: not what a Vertex node is billed
            m = _GCP_PART.match(desc)
            g = _GCP_GPU.match(desc)
            for region in sku.get("serviceRegions", []):
                if m:
                    parts.setdefault((m.group(1).lower(), m.group(2), spot), {})[region] = price
                elif g and g.group(1) in _GCP_GPU_NAMES:
                    gpus.setdefault((_GCP_GPU_NAMES[g.group(1)], spot), {})[region] = price
        page_token = page.get("nextPageToken", "")
        if not page_token:
            break
    source = f"GCP Cloud Billing Catalog services/{GCP_COMPUTE_SERVICE}/skus"
    rows: list[Row] = []
    hosts = {r.type: r for r in current.rows if r.provider == "gcp" and r.kind == "vm"}
    for type_, ref in sorted(hosts.items()):
        family = type_.split("-")[0]
        core, ram = parts.get((family, "Core", False), {}), parts.get((family, "Ram", False), {})
        spot_core, spot_ram = parts.get((family, "Core", True), {}), parts.get((family, "Ram", True), {})
        for region in sorted(set(core) & set(ram)):
            price = round(ref.vcpus * core[region] + ref.memory_gib * ram[region], 6)
            spot = None
            if region in spot_core and region in spot_ram:
                spot = round(ref.vcpus * spot_core[region] + ref.memory_gib * spot_ram[region], 6)
            rows.append(
                replace(
                    ref,
                    region=region,
                    price=price,
                    price_status="ok",
                    spot_price=spot,
                    spot_status=_spot_status(spot, price),
                    source=f"{source}: {ref.vcpus:g} vCPU x core + {ref.memory_gib:g} GiB x RAM SKUs",
                    date=today,
                )
            )
    gpu_shapes = {
        (r.accelerator, r.accelerator_count): r for r in current.rows if r.provider == "gcp" and r.kind == "gpu"
    }
    for (name, count), ref in sorted(gpu_shapes.items()):
        on_demand, spot_by_region = gpus.get((name, False), {}), gpus.get((name, True), {})
        for region, each in sorted(on_demand.items()):
            price = round(each * count, 6)
            spot = round(spot_by_region[region] * count, 6) if region in spot_by_region else None
            rows.append(
                replace(
                    ref,
                    region=region,
                    price=price,
                    price_status="ok",
                    spot_price=spot,
                    spot_status=_spot_status(spot, price),
                    source=f"{source}: {name} GPU SKU x{count}",
                    date=today,
                )
            )
    return rows


def _spot_status(spot: float | None, price: float) -> str:
    if spot is None:
        return "not-offered"
    return "ok" if spot < price else "suspect"


def _gcp_unit_price(sku: dict[str, Any]) -> float | None:
    """USD per hour (or per GiB-hour) from the SKU's last pricing tier."""
    info = sku.get("pricingInfo") or []
    if not info:
        return None
    expr = info[-1].get("pricingExpression", {})
    rates = expr.get("tieredRates") or []
    if not rates or expr.get("usageUnit") not in ("h", "GiBy.h"):
        return None
    unit = rates[-1].get("unitPrice", {})
    if unit.get("currencyCode", "USD") != "USD":
        return None
    value = int(unit.get("units") or 0) + int(unit.get("nanos") or 0) / 1e9
    return value if value > 0 else None


# ---------------------------------------------------------------- HTTP


def _get_json(url: str, headers: dict[str, str], api: str) -> dict[str, Any]:
    """GET a JSON document; throttling (429) and 5xx answers are retried a few times, honouring Retry-After."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    for attempt in range(RETRIES + 1):
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                doc: dict[str, Any] = json.loads(response.read().decode("utf-8"))
                return doc
        except urllib.error.HTTPError as exc:
            if (exc.code == 429 or exc.code >= 500) and attempt < RETRIES:
                time.sleep(_retry_after(exc, attempt))
                continue
            detail = _error_detail(exc)
            raise ProviderError(f"{api} answered HTTP {exc.code}{detail}; the catalog was not changed") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProviderError(
                f"cannot reach {api} ({reason}); offline, cost-estimate keeps using the catalog it has"
            ) from None
        except json.JSONDecodeError:
            raise ProviderError(
                f"{api} answered with something that is not JSON; the catalog was not changed"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(exc: urllib.error.HTTPError, attempt: int) -> float:
    """The server's Retry-After (seconds, capped), else a short exponential backoff."""
    header = exc.headers.get("Retry-After", "") if exc.headers else ""
    try:
        return min(float(header), MAX_RETRY_WAIT)
    except ValueError:
        return min(0.5 * 2**attempt, MAX_RETRY_WAIT)


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (ValueError, OSError):
        return ""
    err = body.get("error", body)
    message = err.get("message") or err.get("Message") if isinstance(err, dict) else str(err)
    return f": {message}" if message else ""
