"""SageMaker prices: a Hosting list row when the catalog has one, else the EC2 row times a ratio.

`fetch` asks the AWS Price List (`pricing.get_products`, ServiceCode AmazonSageMaker component
Hosting, and AmazonEC2 Linux/Shared) through boto3, imported there only; the endpoint is
overridable the standard boto3 way (`AWS_ENDPOINT_URL_PRICING` / `AWS_ENDPOINT_URL`). The
API carries no spot figures (spot is a market, not a list price), so an EC2 row keeps its
previous spot figure and says so in its source.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from scalectl.catalog import (
    Catalog,
    Hardware,
    Offering,
    Row,
    UnknownHardware,
    from_row,
    hardware_of,
    money,
    unknown_type,
    unpriced,
)
from scalectl.cost import Rate
from scalectl.errors import ProviderError, UsageError

NO_SPOT = "not offered for SageMaker real-time endpoints"
DEFAULT_REGION = "us-east-1"
PRICE_API = "AWS Price List API"

# SageMaker real-time hosting list prices (us-east-1, USD/h) checked against
# aws.amazon.com/sagemaker/pricing in 2026-11, with the EC2 price of the same size. They are
# used as they are for that type in us-east-1, and each gives its family's SageMaker/EC2 ratio
# for the family's other sizes and regions (the smallest size of a family carries a larger
# markup, so it is never the family's anchor). A family with no figure uses the median ratio.
SAGEMAKER_CHECKED = "aws.amazon.com/sagemaker/pricing, checked 2026-11"
SAGEMAKER_QUOTED: dict[str, tuple[float, float]] = {  # ml type: (SageMaker, EC2) in us-east-1
    "ml.g5.xlarge": (1.408, 1.006),
    "ml.g5.2xlarge": (1.515, 1.212),
    "ml.inf2.48xlarge": (15.58, 12.98127),
}
FAMILY_ANCHOR = {"g5": "ml.g5.2xlarge", "inf2": "ml.inf2.48xlarge"}


def sagemaker_ratio(instance: str) -> tuple[float, str]:
    """The SageMaker/EC2 price ratio used for `instance`, and where it comes from."""
    family = instance[3:].split(".")[0]
    anchor = FAMILY_ANCHOR.get(family)
    if anchor is not None:
        hosting, ec2 = SAGEMAKER_QUOTED[anchor]
        return round(hosting / ec2, 4), (
            f"the {family} family's ratio ({anchor} {money(hosting)}/h over EC2 {money(ec2)}/h, {SAGEMAKER_CHECKED})"
        )
    ratios = sorted(round(h / e, 4) for h, e in (SAGEMAKER_QUOTED[a] for a in FAMILY_ANCHOR.values()))
    median = round(statistics.median(ratios), 4)
    return median, f"no figure for the {family} family: the median of the g5 and inf2 ratios ({SAGEMAKER_CHECKED})"


def rate(catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
    rate, hw = _instance_rate(catalog, target.instance, target.region)
    return rate, hw, target.instance, target.region


def types(catalog: Catalog) -> list[str]:
    return sorted(_instance_names(catalog))


def catalog_types(name: str) -> set[str]:
    """An ml.* type is priced from its EC2 base when no Hosting row is known."""
    return {name[3:]} if name.startswith("ml.") else set()


def offerings(catalog: Catalog) -> list[Offering]:
    out: list[Offering] = []
    for name in sorted(_instance_names(catalog)):
        regions = {*catalog.regions("aws", "vm", name[3:]), *catalog.regions("aws", "hosting", name)}
        for region in sorted(regions):
            rate, hw = _instance_rate(catalog, name, region)
            out.append(Offering("aws", name, region, hw, rate))
    return out


def _instance_names(catalog: Catalog) -> set[str]:
    """SageMaker names: every Hosting row's, and ml.<type> for every EC2 row."""
    return {"ml." + t for t in catalog.types_of("aws", "vm")} | set(catalog.types_of("aws", "hosting"))


def _instance_rate(catalog: Catalog, instance: str, region: str) -> tuple[Rate, Hardware]:
    if not instance.startswith("ml."):
        hint = f" (did you mean `ml.{instance}`?)" if catalog.regions("aws", "vm", instance) else ""
        raise UnknownHardware("instance", f"SageMaker instance types start with `ml.`{hint}")
    hosting = catalog.row("aws", "hosting", instance, region)
    base = catalog.row("aws", "vm", instance[3:], region)
    ref = hosting or base
    if ref is None:
        unknown_type(
            catalog,
            "aws",
            "instance",
            instance,
            region,
            [*catalog.regions("aws", "hosting", instance), *catalog.regions("aws", "vm", instance[3:])],
        )
    hw = hardware_of(ref)
    if hosting is not None:
        return from_row(hosting, "list", spot_note=NO_SPOT, spot=False), hw
    assert base is not None
    price = base.usable_price
    if price is None:
        return unpriced(base), hw
    quoted = SAGEMAKER_QUOTED.get(instance)
    if quoted is not None and region == DEFAULT_REGION:
        return (
            Rate(
                quoted[0],
                None,
                "estimate",
                f"estimate: SageMaker list price of {instance} in {region} ({SAGEMAKER_CHECKED}), "
                "not from the Price List API: `scalectl catalog refresh --provider aws` replaces it",
                base.date,
                spot_note=NO_SPOT,
            ),
            hw,
        )
    ratio, why = sagemaker_ratio(instance)
    return (
        Rate(
            round(price * ratio, 5),
            None,
            "estimate",
            f"estimate: EC2 {base.type} {region} {money(price)}/h ({base.source}) x {ratio}, {why}; "
            "`scalectl catalog refresh --provider aws` replaces it with the list price",
            base.date,
            spot_note=NO_SPOT,
            parts=(f"EC2 {base.type} {money(price)} x {ratio}",),
        ),
        hw,
    )


# ---------------------------------------------------------------- AWS Price List


def fetch(current: Catalog, today: str) -> list[Row]:
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
