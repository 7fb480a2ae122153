"""SageMaker prices: a Hosting list row when the catalog has one, else the EC2 row times a ratio."""

from __future__ import annotations

from typing import Any

from scalectl.catalog import (
    Catalog,
    Hardware,
    Offering,
    UnknownHardware,
    from_row,
    hardware_of,
    money,
    unknown_type,
    unpriced,
)
from scalectl.cost import Rate

NO_SPOT = "not offered for SageMaker real-time endpoints"
DEFAULT_REGION = "us-east-1"

# Ratio used to estimate SageMaker hosting from EC2 when no AmazonSageMaker row is known:
# the commonly quoted ml.g5.xlarge us-east-1 $1.408/h over EC2 g5.xlarge $1.006/h.
SAGEMAKER_RATIO = round(1.408 / 1.006, 4)
SAGEMAKER_RATIO_SOURCE = (
    f"estimate: EC2 rate x {SAGEMAKER_RATIO} (commonly quoted ml.g5.xlarge us-east-1 $1.408/h over EC2 "
    "g5.xlarge $1.006/h; not a list price - run `scalectl catalog refresh --provider aws`)"
)


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
    return (
        Rate(
            round(price * SAGEMAKER_RATIO, 5),
            None,
            "estimate",
            SAGEMAKER_RATIO_SOURCE + f"; EC2 {base.type} {region} {money(price)}/h from {base.source}",
            base.date,
            spot_note=NO_SPOT,
            parts=(f"EC2 {base.type} {money(price)} x {SAGEMAKER_RATIO}",),
        ),
        hw,
    )
