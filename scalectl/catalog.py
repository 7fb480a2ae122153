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

How a platform's targets map onto rows (and where its price API is) lives in its own pricing
module, `Platform.pricing` (see `Pricing`); this module names no platform outside the seeding.
"""

from __future__ import annotations

import csv
import difflib
import importlib
import os
import re
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NoReturn, Protocol, cast, runtime_checkable

from scalectl import registry
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

    def types_of(self, provider: str, kind: str) -> list[str]:
        return sorted(t for (p, k, t) in self._by_type if p == provider and k == kind)

    def gpu_regions(self, accelerator: str, count: int) -> list[str]:
        return sorted(self._gpus.get((accelerator, count), {}))

    def types(self, provider: str) -> list[str]:
        """Type names a target on `provider` may use (its platform's pricing decides)."""
        pricing = pricing_of(provider)
        return pricing.types(self) if pricing else []

    def show(self, name: str) -> list[Row]:
        """Every row for a type (and the types it is priced from, e.g. ml.* from its EC2 base) or a GPU."""
        wanted = {name}
        for provider in registry.platforms():
            pricing = pricing_of(provider)
            if pricing:
                wanted |= pricing.catalog_types(name)
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


@runtime_checkable
class Pricing(Protocol):
    """What a platform's pricing module (`Platform.pricing`) provides, so the core names no platform.

    The built-in ones are `scalectl.providers.<name>.pricing`; they import no SDK at module level
    (cost-estimate stays offline and fast) and build rates from the helpers below. Runtime
    checkable so a test can assert a module provides every name.
    """

    NO_SPOT: str  # why its serving service sells no spot capacity; "" when it does
    PRICE_API: str  # the public price API `catalog refresh` reads; "" when there is none
    DEFAULT_REGION: str  # region `nearest` prefers when the target is on another platform

    def rate(self, catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
        """(rate, hardware, priced type, region) from the catalog alone; raises UnknownHardware."""
        ...

    def types(self, catalog: Catalog) -> list[str]:
        """Type names a target may use, for did-you-mean."""
        ...

    def catalog_types(self, name: str) -> set[str]:
        """Other catalog types a target type is priced from (`catalog show` lists their rows too)."""
        ...

    def offerings(self, catalog: Catalog) -> list[Offering]:
        """Every way to run a replica, for `nearest`."""
        ...

    def fetch(self, current: Catalog, today: str) -> list[Row]:
        """Fresh rows from the price API for the types `current` knows (`catalog refresh`)."""
        ...


def pricing_of(provider: str) -> Pricing | None:
    """The platform's pricing module, imported on first use; None when it ships no price data."""
    module = registry.platform(provider).pricing
    return cast(Pricing, importlib.import_module(module)) if module else None


def refreshable() -> list[str]:
    """Platforms whose prices `catalog refresh` can fetch from a public price API."""
    return [name for name in registry.platforms() if (p := pricing_of(name)) is not None and p.PRICE_API]


class _Services(Mapping[str, tuple[str, bool, str]]):
    """provider -> (service it bills, whether that service sells spot, spot note when it does not).

    Read from the registry on access rather than built at import: pricing modules import this one.
    A platform without pricing sells no spot as far as cost-estimate knows.
    """

    def __getitem__(self, provider: str) -> tuple[str, bool, str]:
        if provider not in registry.platforms():
            raise KeyError(provider)
        pricing = pricing_of(provider)
        no_spot = pricing.NO_SPOT if pricing else f"no price data for provider {provider!r}"
        return registry.platform(provider).description or provider, not no_spot, no_spot

    def __iter__(self) -> Iterator[str]:
        return iter(registry.platforms())

    def __len__(self) -> int:
        return len(registry.platforms())


SERVICES: Mapping[str, tuple[str, bool, str]] = _Services()


def rate_for(catalog: Catalog, target: Any) -> tuple[Rate, Hardware, str, str]:
    """(rate, hardware, priced type, region) for a config target; raises UnknownHardware.

    `hourly_cost` in the file always wins; a platform without pricing needs it.
    """
    provider = target.provider
    if provider not in registry.platforms():  # pragma: no cover - config validation stops other providers
        raise UnknownHardware("provider", f"no prices for provider {provider!r}")
    pricing = pricing_of(provider)
    if pricing is None:
        if target.hourly_cost is None:
            raise UnknownHardware(
                "provider",
                f"no price data for provider {provider!r}: set hourly_cost (USD per replica-hour) on the target",
            )
        # TargetBase has no region; most platforms' schemas add one
        return user_rate(target.hourly_cost), Hardware("", 0, 0.0), f"{provider} replica", getattr(target, "region", "")
    rate, hw, type_, region = pricing.rate(catalog, target)
    if target.hourly_cost is not None and rate.basis != "user":  # a platform may take it itself (docker)
        rate = replace(user_rate(target.hourly_cost), parts=(f"catalog rate was {money(rate.on_demand)}",))
    return rate, hw, type_, region


def user_rate(hourly: float) -> Rate:
    """The rate `hourly_cost` in scale.yaml sets."""
    return Rate(hourly, None, "user", "hourly_cost in scale.yaml", "", spot_note="hourly_cost is a single figure")


# Building blocks for pricing modules.


def from_row(row: Row, basis: str, *, spot: bool, spot_note: str = "") -> Rate:
    if row.usable_price is None:
        return unpriced(row)
    return Rate(
        row.usable_price,
        row.usable_spot if spot else None,
        basis,  # type: ignore[arg-type]
        row.source,
        row.date,
        spot_note=spot_note or ("" if row.usable_spot is not None else spot_note_for(row)),
    )


def unpriced(row: Row) -> Rate:
    why = (
        f"the source lists {row.price:g} for {row.type or row.accelerator} in {row.region}, a placeholder "
        "for 'unknown', not a price"
        if row.price_status == "placeholder"
        else f"no on-demand price for {row.type or row.accelerator} in {row.region}"
    )
    return Rate(None, None, "unpriced", row.source, row.date, spot_note="no price", problem=why)


def spot_note_for(row: Row) -> str:
    return {
        "not-offered": f"spot not offered for {row.type or row.accelerator} in {row.region}",
        "no-data": f"no spot data for {row.type or row.accelerator} in {row.region} (source repeats on-demand)",
        "suspect": f"spot figure for {row.type or row.accelerator} in {row.region} is above on-demand: "
        "suspect data, not used",
        "ok": "",
    }.get(row.spot_status, "no spot figure")


def hardware_of(row: Row) -> Hardware:
    return Hardware(row.accelerator, row.accelerator_count, row.accelerator_memory_gib)


def unknown_type(catalog: Catalog, provider: str, field: str, type_: str, region: str, regions: list[str]) -> NoReturn:
    """Raise UnknownHardware for `type_` in `region`: the regions it is priced in, else the nearest names."""
    if regions:
        raise UnknownHardware("region", f"no price for {type_} in {region}; it is priced in: {', '.join(regions)}")
    near = catalog.near(provider, type_)
    hint = f"; nearest known: {', '.join(near)}" if near else ""
    raise UnknownHardware(field, f"unknown {provider} type {type_!r} in the price catalog{hint}")


def money(value: float | None) -> str:
    """An hourly rate, always to 4 decimals, so rates side by side read alike."""
    return "n/a" if value is None else f"${value:,.4f}"


# ---------------------------------------------------------------- nearest equivalent hardware


def offerings(catalog: Catalog, provider: str) -> list[Offering]:
    """Every priced way to run a replica on a provider's serving service (computed once per catalog)."""
    if provider not in catalog._offerings:
        pricing = pricing_of(provider)
        found = pricing.offerings(catalog) if pricing else []
        catalog._offerings[provider] = [o for o in found if o.rate.on_demand is not None]
    return catalog._offerings[provider]


def accelerator_family(name: str) -> str:
    """The accelerator without its memory variant: A100-80GB and A100 are one class."""
    return name.split("-")[0]


def accelerator_kind(name: str) -> str:
    if name.startswith("TPU"):
        return "TPU"
    if name.startswith("Inferentia"):
        return "Inferentia"
    return "GPU" if name else ""


def nearest(catalog: Catalog, want: Hardware, provider: str, region: str | None = None) -> Offering | None:
    """The closest hardware a provider sells for `want`, cheapest among equally close.

    Closeness: the same accelerator and count first; else the same accelerator kind (NVIDIA
    GPU, Inferentia, TPU), within it the same class (A100 for an A100 80GB, before any other
    GPU), then the cheapest with enough accelerator memory in total (90% of the target's
    counts). A region is preferred (the target's own, else the provider's default US region)
    but any region is taken when it has nothing as close.
    """
    if not want.accelerator:
        return None
    candidates = [o for o in offerings(catalog, provider) if o.hardware.accelerator]
    if not candidates:
        return None

    def distance(o: Offering) -> tuple[float, ...]:
        hw = o.hardware
        if hw.accelerator == want.accelerator and hw.count == want.count:
            return (0, 0, -1.0)
        short = max(0.0, 0.9 * want.total_memory - hw.total_memory)  # within 10% counts as enough
        return (
            int(accelerator_kind(hw.accelerator) != accelerator_kind(want.accelerator)),
            int(accelerator_family(hw.accelerator) != accelerator_family(want.accelerator)),
            short,
        )

    pricing = pricing_of(provider)
    preferred = region or (pricing.DEFAULT_REGION if pricing else "")
    best_distance = min(distance(o) for o in candidates)
    closest = [o for o in candidates if distance(o) == best_distance]
    local = [o for o in closest if o.region == preferred]
    pool = local or closest
    return min(pool, key=lambda o: (o.rate.on_demand or 0.0, o.type, o.region))


# ---------------------------------------------------------------- seeding from SkyPilot's catalog


SKYPILOT_SOURCE = "skypilot-catalog v8 {provider}/vms.csv (github.com/skypilot-org/skypilot-catalog)"

# Source rows that disagree with the provider's own public figures, corrected while seeding; the
# row's source says what was changed and why. Keyed (provider, instance type, accelerator).
CORRECTIONS: dict[tuple[str, str, str], tuple[dict[str, str], str]] = {
    ("azure", "Standard_ND96isr_H100_v5", "H100"): (
        {"AcceleratorCount": "8"},
        "; GPU count corrected from 12 to 8 (Azure's ND H100 v5 size documentation)",
    ),
    ("gcp", "", "A100-80GB"): (
        # a2-ultragpu-1g is one A100 80GB on a host whose row is 1.09962; the source's GPU row
        # (1.8462, below its own spot figure) prices the machine at 2.95 against a list ~5.07.
        {"Price": "3.96917"},
        "; on-demand corrected (estimate): Google Cloud's a2-ultragpu-1g list price $5.06879/h "
        "(us-central1, cloud.google.com/compute/gpus-pricing, 2026-11) minus its host row $1.09962/h",
    ),
}


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
            fix, note = CORRECTIONS.get((provider, type_, accel), ({}, ""))
            if fix:
                zone_rows = [{**z, **fix} for z in zone_rows]
                count = fix.get("AcceleratorCount", count)
            row = _seed_row(provider, kind, type_, accel, int(count or 0), region, zone_rows, source + note, date)
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
