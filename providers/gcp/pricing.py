"""Vertex AI prices: a listed prediction row, else the Compute Engine host plus its GPUs, or the TPU slice.

Vertex adds a premium over Compute Engine that the shipped catalog does not know, so those
rates are `vm-rate` lower bounds. `fetch` asks the GCP Cloud Billing Catalog
`services/{id}/skus` over urllib (API key `SCALECTL_GCP_API_KEY` or bearer token
`SCALECTL_GCP_TOKEN`); base URL `SCALECTL_GCP_BILLING_URL`.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import replace
from typing import Any

from scalectl.catalog import (
    ACCELERATOR_MEMORY_GIB,
    Catalog,
    Hardware,
    Offering,
    Row,
    UnknownHardware,
    from_row,
    hardware_of,
    money,
    spot_note_for,
    unknown_type,
    unpriced,
)
from scalectl.cost import Rate
from scalectl.errors import UsageError

NO_SPOT = ""  # Vertex AI sells spot nodes
DEFAULT_REGION = "us-central1"
PRICE_API = "Cloud Billing Catalog API"
GCP_BILLING_URL = "https://cloudbilling.googleapis.com"
GCP_COMPUTE_SERVICE = "6F81-5844-456A"  # Compute Engine in the Cloud Billing Catalog

# Vertex AI accelerator names (scale.yaml `accelerator.type`) -> catalog names.
VERTEX_ACCELERATORS = {
    "NVIDIA_TESLA_K80": "K80",
    "NVIDIA_TESLA_T4": "T4",
    "NVIDIA_TESLA_P100": "P100",
    "NVIDIA_TESLA_V100": "V100",
    "NVIDIA_TESLA_A100": "A100",
    "NVIDIA_A100_80GB": "A100-80GB",
    "NVIDIA_L4": "L4",
    "NVIDIA_H100_80GB": "H100",
}

# Vertex AI TPU machine types -> the Cloud TPU slice whose price applies.
VERTEX_TPU_MACHINES = {
    "ct5lp-hightpu-1t": "tpu-v5litepod-1",
    "ct5lp-hightpu-4t": "tpu-v5litepod-4",
    "ct5lp-hightpu-8t": "tpu-v5litepod-8",
    "ct6e-standard-1t": "tpu-v6e-1",
    "ct6e-standard-4t": "tpu-v6e-4",
    "ct6e-standard-8t": "tpu-v6e-8",
}


def rate(catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
    accel = target.accelerator
    rate, hw = _machine_rate(catalog, target.machine, target.region, (accel.type, accel.count) if accel else None)
    return rate, hw, target.machine, target.region


def types(catalog: Catalog) -> list[str]:
    """Compute Engine and listed prediction machines, and the Vertex TPU machines instead of TPU slices."""
    names = set(catalog.types_of("gcp", "vm")) | set(catalog.types_of("gcp", "prediction")) | set(VERTEX_TPU_MACHINES)
    return sorted(names)


def catalog_types(name: str) -> set[str]:
    """A Vertex TPU machine is priced from its Cloud TPU slice."""
    return {VERTEX_TPU_MACHINES[name]} if name in VERTEX_TPU_MACHINES else set()


def offerings(catalog: Catalog) -> list[Offering]:
    """Accelerator-optimised machines (their GPUs are fixed) and TPU machines, per priced region."""
    out: list[Offering] = []
    for machine in catalog.types_of("gcp", "vm"):
        if gcp_machine_gpus(machine) is None:
            continue
        for region in catalog.regions("gcp", "vm", machine):
            try:
                rate, hw = _machine_rate(catalog, machine, region, None)
            except UnknownHardware:
                continue
            out.append(Offering("gcp", machine, region, hw, rate))
    for machine, tpu in VERTEX_TPU_MACHINES.items():
        for region in catalog.regions("gcp", "tpu", tpu):
            rate, hw = _machine_rate(catalog, machine, region, None)
            out.append(Offering("gcp", machine, region, hw, rate))
    return out


def gcp_machine_gpus(machine: str) -> tuple[str, int] | None:
    """The GPUs a GCP accelerator-optimised machine type always carries (a2, a3, g2)."""
    m = re.fullmatch(r"a2-(highgpu|megagpu|ultragpu)-(\d+)g", machine)
    if m:
        return ("A100-80GB" if m.group(1) == "ultragpu" else "A100", int(m.group(2)))
    m = re.fullmatch(r"a3-(highgpu|megagpu|edgegpu)-(\d+)g", machine)
    if m:
        return ("H100", int(m.group(2)))
    m = re.fullmatch(r"g2-standard-(\d+)", machine)
    if m:
        return ("L4", {24: 2, 48: 4, 96: 8}.get(int(m.group(1)), 1))
    return None


def _machine_rate(
    catalog: Catalog, machine: str, region: str, accelerator: tuple[str, int] | None
) -> tuple[Rate, Hardware]:
    listed = catalog.row("gcp", "prediction", machine, region)
    if machine in VERTEX_TPU_MACHINES:
        tpu = VERTEX_TPU_MACHINES[machine]
        row = listed or catalog.row("gcp", "tpu", tpu, region)
        if row is None:
            unknown_type(catalog, "gcp", "machine", machine, region, catalog.regions("gcp", "tpu", tpu))
        basis = "list" if listed else "vm-rate"
        rate = from_row(row, basis, spot=True)
        if basis == "vm-rate":
            rate = replace(rate, source=f"Cloud TPU {tpu} rate from {row.source}; " + _VERTEX_NOTE)
        return rate, hardware_of(row)
    host = listed or catalog.row("gcp", "vm", machine, region)
    if host is None:
        unknown_type(catalog, "gcp", "machine", machine, region, catalog.regions("gcp", "vm", machine))
    if listed is not None:
        return from_row(listed, "list", spot=True), hardware_of(listed)
    gpus = None
    if accelerator is not None:
        name = VERTEX_ACCELERATORS.get(accelerator[0], accelerator[0])
        gpus = (name, accelerator[1])
    else:
        gpus = gcp_machine_gpus(machine)
    if gpus is None:
        rate = from_row(host, "vm-rate", spot=True)
        return replace(rate, source=f"Compute Engine rate from {host.source}; {_VERTEX_NOTE}"), Hardware("", 0, 0.0)
    gpu = catalog.gpu(gpus[0], gpus[1], region)
    hw = Hardware(gpus[0], gpus[1], ACCELERATOR_MEMORY_GIB.get(gpus[0], 0.0))
    if gpu is None:
        where = catalog.gpu_regions(*gpus)
        raise UnknownHardware(
            "region" if where else ("accelerator" if accelerator is not None else "machine"),
            f"no price for {gpus[1]}x {gpus[0]} in {region}"
            + (f"; priced in: {', '.join(where)}" if where else "; no region prices that GPU count"),
        )
    hw = Hardware(gpus[0], gpus[1], gpu.accelerator_memory_gib or hw.memory_gib)
    return _sum_rows(host, gpu), hw


_VERTEX_NOTE = (
    "Vertex AI prediction adds a premium over this Compute Engine figure that the shipped catalog does not "
    "know: a lower bound - run `scalectl catalog refresh --provider gcp`"
)


def _sum_rows(host: Row, gpu: Row) -> Rate:
    """GCP a2/g2/a3 and n1+GPU: the host row plus the separately priced GPU row."""
    parts = (
        f"{host.type} host {money(host.usable_price)}",
        f"{gpu.accelerator} x{gpu.accelerator_count} {money(gpu.usable_price)}",
    )
    if host.usable_price is None or gpu.usable_price is None:
        bad = host if host.usable_price is None else gpu
        return replace(unpriced(bad), parts=parts)
    spot = None
    note = ""
    if host.usable_spot is not None and gpu.usable_spot is not None:
        spot = round(host.usable_spot + gpu.usable_spot, 5)
    else:
        bad = gpu if gpu.usable_spot is None else host
        note = spot_note_for(bad)
    return Rate(
        round(host.usable_price + gpu.usable_price, 5),
        spot,
        "vm-rate",
        f"Compute Engine host + GPU from {host.source}; {_VERTEX_NOTE}",
        max(host.date, gpu.date),
        spot_note=note,
        parts=parts,
    )


# ---------------------------------------------------------------- GCP Cloud Billing Catalog

_GCP_PART = re.compile(r"^(?:Spot Preemptible )?(\w+) (?:Predefined )?Instance (Core|Ram) running in ")
_GCP_GPU = re.compile(r"^(?:Spot Preemptible )?Nvidia (?:Tesla )?(.+?) GPU running in ")
_GCP_SKIP = ("Sole Tenancy", "Reserved", "Premium", "Custom", "suspended", "Commitment")
_GCP_GPU_NAMES = {"A100": "A100", "A100 80GB": "A100-80GB", "L4": "L4", "T4": "T4", "V100": "V100", "H100 80GB": "H100"}


def fetch(current: Catalog, today: str) -> list[Row]:
    from scalectl.catalog_refresh import get_json  # HTTP machinery only for `catalog refresh`

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
        page = get_json(url, headers, "GCP Cloud Billing Catalog")
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
                _fetched(
                    ref,
                    region,
                    price,
                    spot,
                    f"{source}: {ref.vcpus:g} vCPU x core + {ref.memory_gib:g} GiB x RAM SKUs",
                    today,
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
            rows.append(_fetched(ref, region, price, spot, f"{source}: {name} GPU SKU x{count}", today))
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


def _fetched(ref: Row, region: str, price: float, spot: float | None, source: str, today: str) -> Row:
    """A catalog row priced from the billing API: `ref`'s shape in `region` at today's SKU prices."""
    return replace(
        ref,
        region=region,
        price=price,
        price_status="ok",
        spot_price=spot,
        spot_status=_spot_status(spot, price),
        source=source,
        date=today,
    )
