"""The price catalog: which rows exist, where they came from, and the rate a target pays.

One CSV, one row per (provider, kind, region, type): on-demand and spot USD/hour, the
accelerator it carries, the row's source and date. The package ships a catalog seeded from
SkyPilot's public catalog (see `seed_from_skypilot`); `scalectl catalog refresh` writes a
user-level copy (`$SCALECTL_CATALOG`, else `$XDG_DATA_HOME/scalectl/catalog.csv`) from the
providers' price APIs, and that copy wins when it exists.

Rows keep the quirks of their source visible instead of copying them blindly:
`price_status` is `placeholder` for GCP's `700.0` TPU figure (never shown as a price) and
`spot_status` says whether a spot figure is usable (`ok`), absent (`not-offered`), the same
as on-demand (`no-data`) or above on-demand (`suspect`).
"""

from __future__ import annotations

import csv
import difflib
import os
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from scalectl.cost import Rate

FIELDS = (
    "provider",
    "kind",
    "region",
    "type",
    "accelerator",
    "accelerator_count",
    "accelerator_memory_gib",
    "vcpus",
    "memory_gib",
    "price",
    "spot_price",
    "price_status",
    "spot_status",
    "source",
    "date",
)

# kind: vm (EC2 / Compute Engine / Azure VM), gpu (a GCP GPU priced apart from its host),
# tpu (a Cloud TPU slice), hosting (SageMaker ml.* list price), prediction (Vertex AI node).
KINDS = ("vm", "gpu", "tpu", "hosting", "prediction")

# Ratio used to estimate SageMaker hosting from EC2 when no AmazonSageMaker row is known:
# the commonly quoted ml.g5.xlarge us-east-1 $1.408/h over EC2 g5.xlarge $1.006/h.
SAGEMAKER_RATIO = round(1.408 / 1.006, 4)
SAGEMAKER_RATIO_SOURCE = (
    f"estimate: EC2 rate x {SAGEMAKER_RATIO} (commonly quoted ml.g5.xlarge us-east-1 $1.408/h over EC2 "
    "g5.xlarge $1.006/h; not a list price - run `scalectl catalog refresh --provider aws`)"
)

# Memory per accelerator (GiB) where a source does not say (Azure rows carry none).
ACCELERATOR_MEMORY_GIB = {
    "K80": 12.0,
    "T4": 16.0,
    "V100": 16.0,
    "V100-32GB": 32.0,
    "P100": 16.0,
    "A10": 24.0,
    "A10G": 22.4,
    "L4": 24.0,
    "L40S": 44.7,
    "A100": 40.0,
    "A100-80GB": 80.0,
    "H100": 80.0,
    "Inferentia": 8.0,
    "Inferentia2": 32.0,
    "TPU-v2": 16.0,
    "TPU-v3": 32.0,
    "TPU-v4": 32.0,
    "TPU-v5e": 16.0,
    "TPU-v6e": 32.0,
}

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

# The serving service each provider bills, and whether it sells spot capacity.
SERVICES = {
    "aws": ("SageMaker real-time endpoint", False, "not offered for SageMaker real-time endpoints"),
    "gcp": ("Vertex AI online prediction", True, ""),
    "azure": ("Azure ML managed online endpoint", False, "not offered for Azure ML managed online endpoints"),
    "docker": ("local Docker", False, "not applicable to a local machine"),
}
DEFAULT_REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
PLACEHOLDER_PRICES = (700.0,)


class UnknownHardware(Exception):
    """The target names an instance/machine type or region the catalog does not know."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Row:
    provider: str
    kind: str
    region: str
    type: str
    accelerator: str = ""
    accelerator_count: int = 0
    accelerator_memory_gib: float = 0.0
    vcpus: float = 0.0
    memory_gib: float = 0.0
    price: float | None = None
    spot_price: float | None = None
    price_status: str = "ok"  # ok | placeholder | missing
    spot_status: str = "ok"  # ok | not-offered | no-data | suspect
    source: str = ""
    date: str = ""

    @property
    def usable_price(self) -> float | None:
        return self.price if self.price_status == "ok" else None

    @property
    def usable_spot(self) -> float | None:
        return self.spot_price if self.spot_status == "ok" and self.usable_price is not None else None

    def to_csv(self) -> dict[str, str]:
        out = {}
        for f in FIELDS:
            value = getattr(self, f)
            blank = value is None or (value == 0 and f.startswith(("accelerator_", "vcpus", "memory")))
            out[f] = "" if blank else str(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Hardware:
    """What a replica runs on, for nearest-equivalent matching."""

    accelerator: str  # "" for CPU only
    count: int
    memory_gib: float  # per accelerator

    @property
    def total_memory(self) -> float:
        return self.count * self.memory_gib

    def describe(self) -> str:
        if not self.accelerator:
            return "CPU only"
        return f"{self.count}x {self.accelerator} ({self.total_memory:g} GiB)"


@dataclass(frozen=True)
class Offering:
    """A priced way to run one replica: a type in a region with its hardware and rate."""

    provider: str
    type: str
    region: str
    hardware: Hardware
    rate: Rate


# ---------------------------------------------------------------- files


def shipped_path() -> Path:
    return Path(__file__).with_name("catalog") / "prices.csv"


def user_path() -> Path:
    """Where `catalog refresh` writes: $SCALECTL_CATALOG, else $XDG_DATA_HOME/scalectl/catalog.csv."""
    explicit = os.environ.get("SCALECTL_CATALOG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "scalectl" / "catalog.csv"


def read_rows(path: Path) -> list[Row]:
    with path.open(newline="") as fh:
        return [_row(r) for r in csv.DictReader(fh)]


def write_rows(path: Path, rows: Iterable[Row]) -> None:
    """Write atomically, sorted, so diffs between refreshes stay readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    ordered = sorted(rows, key=lambda r: (r.provider, r.kind, r.type, r.accelerator, r.accelerator_count, r.region))
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in ordered:
            writer.writerow(r.to_csv())
    tmp.replace(path)


def _row(raw: dict[str, str]) -> Row:
    def num(key: str) -> float:
        return float(raw[key]) if raw.get(key) else 0.0

    def opt(key: str) -> float | None:
        return float(raw[key]) if raw.get(key) else None

    return Row(
        provider=raw["provider"],
        kind=raw["kind"],
        region=raw["region"],
        type=raw["type"],
        accelerator=raw.get("accelerator", ""),
        accelerator_count=int(num("accelerator_count")),
        accelerator_memory_gib=num("accelerator_memory_gib"),
        vcpus=num("vcpus"),
        memory_gib=num("memory_gib"),
        price=opt("price"),
        spot_price=opt("spot_price"),
        price_status=raw.get("price_status") or "ok",
        spot_status=raw.get("spot_status") or "ok",
        source=raw.get("source", ""),
        date=raw.get("date", ""),
    )


# ---------------------------------------------------------------- the catalog


class Catalog:
    """Rows indexed for lookup, plus where they were read from."""

    def __init__(self, rows: Sequence[Row], origin: str) -> None:
        self.rows = list(rows)
        self.origin = origin
        self._by_type: dict[tuple[str, str, str], dict[str, Row]] = {}
        self._gpus: dict[tuple[str, int], dict[str, Row]] = {}
        self._offerings: dict[str, list[Offering]] = {}
        self.shipped_date = ""  # set when a user copy is in use
        for r in self.rows:
            if r.kind == "gpu":
                self._gpus.setdefault((r.accelerator, r.accelerator_count), {})[r.region] = r
            else:
                self._by_type.setdefault((r.provider, r.kind, r.type), {})[r.region] = r

    @property
    def date(self) -> str:
        return max((r.date for r in self.rows), default="")

    def age_days(self, today: str | None = None) -> int | None:
        """Days since the newest row's date; None when the rows carry no date."""
        import datetime as dt

        try:
            newest = dt.date.fromisoformat(self.date)
        except ValueError:
            return None
        now = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.timezone.utc).date()
        return (now - newest).days

    def dates(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in self.rows:
            out[r.provider] = max(out.get(r.provider, ""), r.date)
        return out

    def row(self, provider: str, kind: str, type_: str, region: str) -> Row | None:
        return self._by_type.get((provider, kind, type_), {}).get(region)

    def regions(self, provider: str, kind: str, type_: str) -> list[str]:
        return sorted(self._by_type.get((provider, kind, type_), {}))

    def gpu(self, accelerator: str, count: int, region: str) -> Row | None:
        return self._gpus.get((accelerator, count), {}).get(region)

    def types(self, provider: str) -> list[str]:
        names = {t for (p, _k, t) in self._by_type if p == provider}
        if provider == "aws":
            names |= {"ml." + t for (p, k, t) in self._by_type if p == "aws" and k == "vm"}
            names = {n for n in names if n.startswith("ml.")}
        if provider == "gcp":
            names |= set(VERTEX_TPU_MACHINES)
            names -= {t for (p, k, t) in self._by_type if p == "gcp" and k == "tpu"}
        return sorted(names)

    def show(self, name: str) -> list[Row]:
        """Every row for a type (ml.* also shows its EC2 base), a GPU, or a Vertex TPU machine."""
        wanted = {name}
        if name.startswith("ml."):
            wanted.add(name[3:])
        if name in VERTEX_TPU_MACHINES:
            wanted.add(VERTEX_TPU_MACHINES[name])
        lowered = {w.lower() for w in wanted}
        return [
            r for r in self.rows if r.type.lower() in lowered or (r.kind == "gpu" and r.accelerator.lower() in lowered)
        ]

    def near(self, provider: str, name: str, n: int = 3) -> list[str]:
        known = self.types(provider)
        close = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
        if not close:
            family = re.split(r"[.\-_]", name.removeprefix("ml."))[0].lower()
            close = [k for k in known if family and family in k.lower()][:n]
        return close


def load_catalog(path: Path | None = None) -> Catalog:
    """The user-level copy when there is one (`catalog refresh`), else the shipped catalog."""
    if path is None:
        candidate = user_path()
        path = candidate if candidate.exists() else shipped_path()
    try:
        rows = read_rows(path)
    except FileNotFoundError:
        from scalectl.errors import UsageError

        raise UsageError(f"price catalog {path} not found (SCALECTL_CATALOG points at a missing file?)") from None
    except (KeyError, ValueError) as exc:
        from scalectl.errors import UsageError

        raise UsageError(f"price catalog {path} is not a scalectl catalog ({exc}); delete it or refresh it") from None
    origin = "shipped" if path == shipped_path() else str(path)
    catalog = Catalog(rows, origin)
    if origin != "shipped":
        catalog.shipped_date = _shipped_date()
    return catalog


def _shipped_date() -> str:
    """Newest date in the shipped catalog (to notice a user copy older than an upgraded package)."""
    try:
        with shipped_path().open(newline="") as fh:
            return max((r.get("date", "") for r in csv.DictReader(fh)), default="")
    except OSError:
        return ""


# ---------------------------------------------------------------- rates for targets


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


def rate_for(catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
    """(rate, hardware, priced type, region) for a config target; raises UnknownHardware.

    `hourly_cost` in the file always wins; Docker targets without one cost 0.
    """
    provider = target.provider
    if provider == "docker":
        hw = Hardware("", 0, 0.0)
        if target.hourly_cost is not None:
            return _user_rate(target.hourly_cost), hw, "docker host", "local"
        return (
            Rate(
                0.0,
                None,
                "user",
                "default 0: set hourly_cost (amortised hardware + power) for a real figure",
                "",
                spot_note=SERVICES["docker"][2],
            ),
            hw,
            "docker host",
            "local",
        )
    if provider == "aws":
        type_, region = target.instance, target.region
        rate, hw = _aws_rate(catalog, type_, region)
    elif provider == "gcp":
        type_, region = target.machine, target.region
        accel = target.accelerator
        rate, hw = _gcp_rate(catalog, type_, region, (accel.type, accel.count) if accel else None)
    elif provider == "azure":
        type_, region = target.instance, target.region
        rate, hw = _azure_rate(catalog, type_, region)
    else:  # pragma: no cover - config validation stops other providers
        raise UnknownHardware("provider", f"no prices for provider {provider!r}")
    if target.hourly_cost is not None:
        rate = replace(_user_rate(target.hourly_cost), parts=(f"catalog rate was {_money(rate.on_demand)}",))
    return rate, hw, type_, region


def _user_rate(hourly: float) -> Rate:
    return Rate(hourly, None, "user", "hourly_cost in scale.yaml", "", spot_note="hourly_cost is a single figure")


def _aws_rate(catalog: Catalog, instance: str, region: str) -> tuple[Rate, Hardware]:
    no_spot = SERVICES["aws"][2]
    if not instance.startswith("ml."):
        hint = f" (did you mean `ml.{instance}`?)" if catalog.regions("aws", "vm", instance) else ""
        raise UnknownHardware("instance", f"SageMaker instance types start with `ml.`{hint}")
    hosting = catalog.row("aws", "hosting", instance, region)
    base = catalog.row("aws", "vm", instance[3:], region)
    ref = hosting or base
    if ref is None:
        _unknown(
            catalog,
            "aws",
            instance,
            region,
            [*catalog.regions("aws", "hosting", instance), *catalog.regions("aws", "vm", instance[3:])],
        )
    assert ref is not None
    hw = _hardware(ref)
    if hosting is not None:
        return _from_row(hosting, "list", spot_note=no_spot, spot=False), hw
    assert base is not None
    price = base.usable_price
    if price is None:
        return _unpriced(base), hw
    return (
        Rate(
            round(price * SAGEMAKER_RATIO, 5),
            None,
            "estimate",
            SAGEMAKER_RATIO_SOURCE + f"; EC2 {base.type} {region} {_money(price)}/h from {base.source}",
            base.date,
            spot_note=no_spot,
            parts=(f"EC2 {base.type} {_money(price)} x {SAGEMAKER_RATIO}",),
        ),
        hw,
    )


def _gcp_rate(
    catalog: Catalog, machine: str, region: str, accelerator: tuple[str, int] | None
) -> tuple[Rate, Hardware]:
    listed = catalog.row("gcp", "prediction", machine, region)
    if machine in VERTEX_TPU_MACHINES:
        tpu = VERTEX_TPU_MACHINES[machine]
        row = listed or catalog.row("gcp", "tpu", tpu, region)
        if row is None:
            _unknown(catalog, "gcp", machine, region, catalog.regions("gcp", "tpu", tpu))
        assert row is not None
        basis = "list" if listed else "vm-rate"
        rate = _from_row(row, basis, spot=True)
        if basis == "vm-rate":
            rate = replace(rate, source=f"Cloud TPU {tpu} rate from {row.source}; " + _VERTEX_NOTE)
        return rate, _hardware(row)
    host = listed or catalog.row("gcp", "vm", machine, region)
    if host is None:
        _unknown(catalog, "gcp", machine, region, catalog.regions("gcp", "vm", machine))
    assert host is not None
    if listed is not None:
        return _from_row(listed, "list", spot=True), _hardware(listed)
    gpus = None
    if accelerator is not None:
        name = VERTEX_ACCELERATORS.get(accelerator[0], accelerator[0])
        gpus = (name, accelerator[1])
    else:
        gpus = gcp_machine_gpus(machine)
    if gpus is None:
        rate = _from_row(host, "vm-rate", spot=True)
        return replace(rate, source=f"Compute Engine rate from {host.source}; {_VERTEX_NOTE}"), Hardware("", 0, 0.0)
    gpu = catalog.gpu(gpus[0], gpus[1], region)
    hw = Hardware(gpus[0], gpus[1], ACCELERATOR_MEMORY_GIB.get(gpus[0], 0.0))
    if gpu is None:
        where = sorted(catalog._gpus.get(gpus, {}))
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
        f"{host.type} host {_money(host.usable_price)}",
        f"{gpu.accelerator} x{gpu.accelerator_count} {_money(gpu.usable_price)}",
    )
    if host.usable_price is None or gpu.usable_price is None:
        bad = host if host.usable_price is None else gpu
        return replace(_unpriced(bad), parts=parts)
    spot = None
    note = ""
    if host.usable_spot is not None and gpu.usable_spot is not None:
        spot = round(host.usable_spot + gpu.usable_spot, 5)
    else:
        bad = gpu if gpu.usable_spot is None else host
        note = _spot_note(bad)
    return Rate(
        round(host.usable_price + gpu.usable_price, 5),
        spot,
        "vm-rate",
        f"Compute Engine host + GPU from {host.source}; {_VERTEX_NOTE}",
        max(host.date, gpu.date),
        spot_note=note,
        parts=parts,
    )


def _azure_rate(catalog: Catalog, instance: str, region: str) -> tuple[Rate, Hardware]:
    row = catalog.row("azure", "vm", instance, region)
    if row is None:
        _unknown(catalog, "azure", instance, region, catalog.regions("azure", "vm", instance))
    assert row is not None
    rate = _from_row(row, "list", spot=False, spot_note=SERVICES["azure"][2])
    return replace(rate, source=f"Azure VM rate (managed online endpoints bill the VM) from {row.source}"), _hardware(
        row
    )


def _from_row(row: Row, basis: str, *, spot: bool, spot_note: str = "") -> Rate:
    if row.usable_price is None:
        return _unpriced(row)
    return Rate(
        row.usable_price,
        row.usable_spot if spot else None,
        basis,  # type: ignore[arg-type]
        row.source,
        row.date,
        spot_note=spot_note or ("" if row.usable_spot is not None else _spot_note(row)),
    )


def _unpriced(row: Row) -> Rate:
    why = (
        f"the source lists {row.price:g} for {row.type or row.accelerator} in {row.region}, a placeholder "
        "for 'unknown', not a price"
        if row.price_status == "placeholder"
        else f"no on-demand price for {row.type or row.accelerator} in {row.region}"
    )
    return Rate(None, None, "unpriced", row.source, row.date, spot_note="no price", problem=why)


def _spot_note(row: Row) -> str:
    return {
        "not-offered": f"spot not offered for {row.type or row.accelerator} in {row.region}",
        "no-data": f"no spot data for {row.type or row.accelerator} in {row.region} (source repeats on-demand)",
        "suspect": f"spot figure for {row.type or row.accelerator} in {row.region} is above on-demand: "
        "suspect data, not used",
        "ok": "",
    }.get(row.spot_status, "no spot figure")


def _hardware(row: Row) -> Hardware:
    return Hardware(row.accelerator, row.accelerator_count, row.accelerator_memory_gib)


def _unknown(catalog: Catalog, provider: str, type_: str, region: str, regions: list[str]) -> None:
    if regions:
        raise UnknownHardware("region", f"no price for {type_} in {region}; it is priced in: {', '.join(regions)}")
    near = catalog.near(provider, type_)
    hint = f"; nearest known: {', '.join(near)}" if near else ""
    raise UnknownHardware(
        "machine" if provider == "gcp" else "instance", f"unknown {provider} type {type_!r} in the price catalog{hint}"
    )


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------- nearest equivalent hardware


def offerings(catalog: Catalog, provider: str) -> list[Offering]:
    """Every priced way to run a replica on a provider's serving service (computed once per catalog)."""
    if provider not in catalog._offerings:
        catalog._offerings[provider] = _offerings(catalog, provider)
    return catalog._offerings[provider]


def _offerings(catalog: Catalog, provider: str) -> list[Offering]:
    out: list[Offering] = []
    if provider == "aws":
        names = {("ml." + t) for (p, k, t) in catalog._by_type if p == "aws" and k == "vm"}
        names |= {t for (p, k, t) in catalog._by_type if p == "aws" and k == "hosting"}
        for name in sorted(names):
            regions = {*catalog.regions("aws", "vm", name[3:]), *catalog.regions("aws", "hosting", name)}
            for region in sorted(regions):
                rate, hw = _aws_rate(catalog, name, region)
                out.append(Offering("aws", name, region, hw, rate))
    elif provider == "gcp":
        for (p, k, t), by_region in catalog._by_type.items():
            if p != "gcp" or k not in ("vm",) or gcp_machine_gpus(t) is None:
                continue
            for region in by_region:
                try:
                    rate, hw = _gcp_rate(catalog, t, region, None)
                except UnknownHardware:
                    continue
                out.append(Offering("gcp", t, region, hw, rate))
        for machine, tpu in VERTEX_TPU_MACHINES.items():
            for region in catalog.regions("gcp", "tpu", tpu):
                rate, hw = _gcp_rate(catalog, machine, region, None)
                out.append(Offering("gcp", machine, region, hw, rate))
    elif provider == "azure":
        for (p, k, t), by_region in catalog._by_type.items():
            if p == "azure" and k == "vm":
                for region in by_region:
                    rate, hw = _azure_rate(catalog, t, region)
                    out.append(Offering("azure", t, region, hw, rate))
    return [o for o in out if o.rate.on_demand is not None]


def accelerator_kind(name: str) -> str:
    if name.startswith("TPU"):
        return "TPU"
    if name.startswith("Inferentia"):
        return "Inferentia"
    return "GPU" if name else ""


def nearest(catalog: Catalog, want: Hardware, provider: str, region: str | None = None) -> Offering | None:
    """The closest hardware a provider sells for `want`, cheapest among equally close.

    Closeness: the same accelerator kind (NVIDIA GPU, Inferentia, TPU) first; within it the
    same accelerator and count, else the cheapest with enough accelerator memory in total
    (90% of the target's counts). A region is preferred (the target's own, else the
    provider's default US region) but any region is taken when it has nothing as close.
    """
    if not want.accelerator:
        return None
    candidates = [o for o in offerings(catalog, provider) if o.hardware.accelerator]
    if not candidates:
        return None

    def distance(o: Offering) -> tuple[float, ...]:
        hw = o.hardware
        if hw.accelerator == want.accelerator and hw.count == want.count:
            return (0, 0, 0)
        short = max(0.0, 0.9 * want.total_memory - hw.total_memory)  # within 10% counts as enough
        return (int(accelerator_kind(hw.accelerator) != accelerator_kind(want.accelerator)), 1, short)

    preferred = region or DEFAULT_REGIONS.get(provider, "")
    best_distance = min(distance(o) for o in candidates)
    closest = [o for o in candidates if distance(o) == best_distance]
    local = [o for o in closest if o.region == preferred]
    pool = local or closest
    return min(pool, key=lambda o: (o.rate.on_demand or 0.0, o.type, o.region))


# ---------------------------------------------------------------- seeding from SkyPilot's catalog


SKYPILOT_SOURCE = "skypilot-catalog v8 {provider}/vms.csv via shared/pricing"


def seed_from_skypilot(pricing_dir: Path, date: str) -> list[Row]:
    """Turn the SkyPilot rows (one per zone) into catalog rows (one per region), quirks marked.

    Spot per region is the median over the zones that have real spot data; a zone whose
    spot equals on-demand counts as no data, one above on-demand as suspect.
    """
    rows: list[Row] = []
    specs = (
        ("aws", "aws_vms_v8_subset.csv"),
        ("gcp", "gcp_vms_v8_subset.csv"),
        ("azure", "azure_vms_v8_gpu_subset.csv"),
    )
    for provider, name in specs:
        path = pricing_dir / name
        with path.open(newline="") as fh:
            raw = list(csv.DictReader(fh))
        groups: dict[tuple[str, str, str, str, str], list[dict[str, str]]] = {}
        for r in raw:
            kind, type_, accel, count = _classify(provider, r)
            if kind == "":
                continue
            groups.setdefault((kind, type_, accel, count, r["Region"]), []).append(r)
        source = SKYPILOT_SOURCE.format(provider=provider)
        for (kind, type_, accel, count, region), zone_rows in groups.items():
            row = _seed_row(provider, kind, type_, accel, int(count or 0), region, zone_rows, source, date)
            if row is not None:
                rows.append(row)
    return rows


def _classify(provider: str, r: dict[str, str]) -> tuple[str, str, str, str]:
    accel = r.get("AcceleratorName", "")
    count = r.get("AcceleratorCount", "")
    count = str(int(float(count))) if count else ""
    if provider == "gcp" and not r["InstanceType"]:
        if accel.startswith("tpu-"):
            return "tpu", accel, accel, count
        return "gpu", "", accel, count
    return "vm", r["InstanceType"], accel, count


def _seed_row(
    provider: str,
    kind: str,
    type_: str,
    accel: str,
    count: int,
    region: str,
    zone_rows: list[dict[str, str]],
    source: str,
    date: str,
) -> Row | None:
    prices = sorted({float(z["Price"]) for z in zone_rows if z.get("Price")})
    if not prices:
        return None  # listed without any price: nothing to say about it
    price = prices[-1] if len(prices) > 1 else prices[0]  # zones disagree only in rounding; take the higher
    price_status = "placeholder" if price in PLACEHOLDER_PRICES else "ok"
    good: list[float] = []
    statuses: set[str] = set()
    for z in zone_rows:
        spot = z.get("SpotPrice", "")
        if not spot:
            statuses.add("not-offered")
        elif float(spot) == float(z["Price"]):
            statuses.add("no-data")
        elif float(spot) > float(z["Price"]):
            statuses.add("suspect")
        else:
            good.append(float(spot))
    if good:
        spot_price: float | None = round(statistics.median(good), 6)
        spot_status = "ok"
        note = f"; spot = median of {len(good)} zone(s)" if len(zone_rows) > 1 else ""
    else:
        spot_status = next(s for s in ("suspect", "no-data", "not-offered") if s in statuses)
        spot_price = (
            max(float(z["SpotPrice"]) for z in zone_rows if z.get("SpotPrice"))
            if spot_status != "not-offered"
            else None
        )
        note = ""
    if price_status == "placeholder":
        spot_status, spot_price = "no-data", None
    vcpus = float(zone_rows[0].get("vCPUs") or 0)
    mem = float(zone_rows[0].get("MemoryGiB") or 0)
    name = accel
    tpu_chips = 0
    if kind == "tpu":
        m = re.fullmatch(r"tpu-(v\d+)(litepod|e)?-(\d+)", accel)
        generation = accel
        if m:
            generation = "v5e" if m.group(2) == "litepod" else m.group(1) + (m.group(2) or "")
        name = f"TPU-{generation}"
        chips = int(m.group(3)) if m else 1
        tpu_chips = chips if generation in ("v5e", "v6e") else max(1, chips // 2)  # v2-v4: 2 cores per chip
    mem_per = _accelerator_memory(zone_rows[0].get("GpuInfo", ""), name, count)
    return Row(
        provider=provider,
        kind=kind,
        region=region,
        type=type_,
        accelerator=name,
        accelerator_count=tpu_chips or count,
        accelerator_memory_gib=mem_per,
        vcpus=vcpus,
        memory_gib=mem,
        price=price,
        spot_price=spot_price,
        price_status=price_status,
        spot_status=spot_status,
        source=source + note,
        date=date,
    )


def _accelerator_memory(gpu_info: str, name: str, count: int) -> float:
    m = re.search(r"'MemoryInfo': \{'SizeInMiB': (\d+)\}", gpu_info)
    if m:
        return round(int(m.group(1)) / 1024, 1)
    return ACCELERATOR_MEMORY_GIB.get(name, 0.0)
