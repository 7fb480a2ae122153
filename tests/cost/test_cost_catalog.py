"""The shipped catalog and its quirks: GPU host + accelerator sums, placeholders, odd spot figures."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from scalectl import catalog as cat
from scalectl.catalog import Hardware, UnknownHardware, load_catalog, rate_for

SHARED = Path("/work/shared/pricing")


@pytest.fixture(scope="module")
def shipped() -> cat.Catalog:
    return cat.Catalog(cat.read_rows(cat.shipped_path()), "shipped")


def gcp(machine: str, region: str = "us-central1", accelerator: tuple[str, int] | None = None) -> SimpleNamespace:
    accel = SimpleNamespace(type=accelerator[0], count=accelerator[1]) if accelerator else None
    return SimpleNamespace(provider="gcp", machine=machine, region=region, accelerator=accel, hourly_cost=None)


def test_every_row_has_source_and_date(shipped: cat.Catalog) -> None:
    assert len(shipped.rows) > 150
    assert all(r.source and r.date for r in shipped.rows)
    assert {r.provider for r in shipped.rows} == {"aws", "gcp", "azure"}


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared pricing rows not on this machine")
def test_shipped_catalog_is_the_seed_of_the_shared_rows(tmp_path: Path, shipped: cat.Catalog) -> None:
    seeded = cat.seed_from_skypilot(SHARED, shipped.date)
    cat.write_rows(tmp_path / "seed.csv", seeded)
    assert (tmp_path / "seed.csv").read_text() == cat.shipped_path().read_text()


def test_gcp_gpu_machine_is_host_plus_gpu_rows(shipped: cat.Catalog) -> None:
    rate, hw, _, _ = rate_for(shipped, gcp("a2-highgpu-1g"))
    assert rate.on_demand == pytest.approx(0.73948 + 2.93391)
    assert rate.spot == pytest.approx(0.36975 + 1.4341)
    assert hw == Hardware("A100", 1, 40.0)
    assert "a2-highgpu-1g host" in rate.parts[0] and "A100 x1" in rate.parts[1]

    # g2 with an explicit Vertex accelerator name
    rate, hw, _, _ = rate_for(shipped, gcp("g2-standard-8", accelerator=("NVIDIA_L4", 1)))
    assert rate.on_demand == pytest.approx(0.29358 + 0.56004)
    assert rate.basis == "vm-rate" and "lower bound" in rate.source


def test_corrected_rows_say_so(shipped: cat.Catalog) -> None:
    # The source's A100 80GB GPU row (1.8462, below its own spot figure) priced a2-ultragpu-1g at
    # 2.95 against a list price of about 5.07; the correction is labelled an estimate.
    rate, hw, _, _ = rate_for(shipped, gcp("a2-ultragpu-1g"))
    assert rate.on_demand == pytest.approx(5.06879)
    assert rate.spot is not None and rate.spot < rate.on_demand
    assert hw == Hardware("A100-80GB", 1, 80.0)
    gpu = shipped.gpu("A100-80GB", 1, "us-central1")
    assert gpu is not None and "corrected (estimate)" in gpu.source
    h100 = shipped.row("azure", "vm", "Standard_ND96isr_H100_v5", "eastus")
    assert h100 is not None and h100.accelerator_count == 8 and "corrected from 12 to 8" in h100.source
    assert not any("shared/pricing" in r.source for r in shipped.rows)


def test_tpu_placeholder_price_is_refused(shipped: cat.Catalog) -> None:
    row = shipped.row("gcp", "tpu", "tpu-v6e-1", "asia-east1")
    assert row is not None and row.price_status == "placeholder" and row.usable_price is None
    rate, _, _, _ = rate_for(shipped, gcp("ct6e-standard-1t", region="asia-east1"))
    assert rate.on_demand is None and rate.basis == "unpriced"
    assert "placeholder" in rate.problem
    priced, hw, _, _ = rate_for(shipped, gcp("ct6e-standard-1t"))
    assert priced.on_demand == 2.7 and hw == Hardware("TPU-v6e", 1, 32.0)


def test_spot_equal_to_on_demand_is_no_data(shipped: cat.Catalog) -> None:
    row = shipped.row("azure", "vm", "Standard_NC40ads_H100_v5", "eastus")
    assert row is not None and row.spot_status == "no-data" and row.usable_spot is None


def test_aws_spot_is_median_of_zones_with_real_spot(shipped: cat.Catalog) -> None:
    # p5.48xlarge us-east-1: two zones repeat on-demand (no data), four have real spot prices
    row = shipped.row("aws", "vm", "p5.48xlarge", "us-east-1")
    assert row is not None
    assert row.spot_price == pytest.approx((19.2531 + 21.1543) / 2)


def test_sagemaker_rate_is_a_labelled_estimate_without_spot(shipped: cat.Catalog) -> None:
    target = SimpleNamespace(provider="aws", instance="ml.g5.xlarge", region="us-east-1", hourly_cost=None)
    rate, hw, _, _ = rate_for(shipped, target)
    assert (rate.basis, rate.on_demand) == ("estimate", 1.408)
    assert "not from the Price List API" in rate.source
    assert rate.spot is None and "SageMaker real-time" in rate.spot_note
    assert hw.accelerator == "A10G"


@pytest.mark.parametrize(
    ("instance", "region", "expected", "family"),
    [
        ("ml.g5.2xlarge", "us-east-1", 1.515, "SageMaker list price of ml.g5.2xlarge"),
        ("ml.g5.48xlarge", "us-east-1", 16.288 * 1.515 / 1.212, "the g5 family"),
        ("ml.g5.xlarge", "eu-west-1", 1.123 * 1.515 / 1.212, "the g5 family"),
        ("ml.inf2.48xlarge", "us-east-1", 15.58, "not from the Price List API"),
        ("ml.inf2.xlarge", "us-east-1", 0.7582 * 15.58 / 12.98127, "the inf2 family"),
        ("ml.p4d.24xlarge", "us-east-1", 21.957642 * 1.2251, "median of the g5 and inf2 ratios"),
    ],
)
def test_sagemaker_estimates_per_instance_family(
    shipped: cat.Catalog, instance: str, region: str, expected: float, family: str
) -> None:
    target = SimpleNamespace(provider="aws", instance=instance, region=region, hourly_cost=None)
    rate, _, _, _ = rate_for(shipped, target)
    assert rate.basis == "estimate" and family in rate.source
    assert rate.on_demand == pytest.approx(expected, rel=2e-4)


def test_sagemaker_list_row_wins_over_the_estimate() -> None:
    rows = [
        cat.Row("aws", "vm", "us-east-1", "g5.xlarge", "A10G", 1, 22.4, price=1.006, spot_price=0.4, source="ec2"),
        cat.Row(
            "aws",
            "hosting",
            "us-east-1",
            "ml.g5.xlarge",
            "A10G",
            1,
            22.4,
            price=1.41,
            spot_status="not-offered",
            source="AWS Price List AmazonSageMaker",
            date="2026-11-01",
        ),
    ]
    target = SimpleNamespace(provider="aws", instance="ml.g5.xlarge", region="us-east-1", hourly_cost=None)
    rate, _, _, _ = rate_for(cat.Catalog(rows, "test"), target)
    assert (rate.on_demand, rate.basis, rate.source) == (1.41, "list", "AWS Price List AmazonSageMaker")


def test_hourly_cost_overrides_the_catalog(shipped: cat.Catalog) -> None:
    target = SimpleNamespace(provider="azure", instance="Standard_NC4as_T4_v3", region="eastus", hourly_cost=0.1)
    rate, _, _, _ = rate_for(shipped, target)
    assert (rate.on_demand, rate.basis) == (0.1, "user")
    docker = SimpleNamespace(provider="docker", hourly_cost=None)
    assert rate_for(shipped, docker)[0].on_demand == 0.0


def test_unknown_type_and_region_name_the_nearest(shipped: cat.Catalog) -> None:
    target = SimpleNamespace(provider="azure", instance="Standard_NC4as_T4_v4", region="eastus", hourly_cost=None)
    with pytest.raises(UnknownHardware) as exc:
        rate_for(shipped, target)
    assert exc.value.field == "instance" and "Standard_NC4as_T4_v3" in exc.value.message
    with pytest.raises(UnknownHardware) as exc:
        rate_for(shipped, gcp("g2-standard-8", region="mars-north1"))
    assert exc.value.field == "region" and "us-central1" in exc.value.message


def test_nearest_equivalent_prefers_same_accelerator_then_memory(shipped: cat.Catalog) -> None:
    a100 = Hardware("A100", 1, 40.0)
    assert cat.nearest(shipped, a100, "gcp").type == "a2-highgpu-1g"  # type: ignore[union-attr]
    t4 = cat.nearest(shipped, Hardware("T4", 1, 16.0), "aws")
    assert t4 is not None and t4.type == "ml.g5.xlarge"  # cheapest NVIDIA GPU with >= 16 GiB
    azure_a100 = cat.nearest(shipped, Hardware("A100-80GB", 1, 80.0), "azure")
    assert azure_a100 is not None and azure_a100.type == "Standard_NC24ads_A100_v4"
    assert azure_a100.region == "eastus"


def test_user_copy_wins_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "mine.csv"
    cat.write_rows(user, [cat.Row("azure", "vm", "eastus", "Standard_X", price=1.0, source="s", date="2030-01-01")])
    monkeypatch.setenv("SCALECTL_CATALOG", str(user))
    loaded = load_catalog()
    assert loaded.origin == str(user) and loaded.date == "2030-01-01"


def test_seeding_marks_each_quirk(tmp_path: Path) -> None:
    """A tiny SkyPilot-shaped input with every quirk, independent of the shared rows."""
    aws_head = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,"
    aws_head += "AvailabilityZone,Arch"
    (tmp_path / "aws_vms_v8_subset.csv").write_text(
        aws_head + "\n"
        "g5.xlarge,A10G,1.0,4.0,16.0,\"{'MemoryInfo': {'SizeInMiB': 22888}}\",1.0,0.40,us-east-1,a,x86_64\n"
        "g5.xlarge,A10G,1.0,4.0,16.0,\"{'MemoryInfo': {'SizeInMiB': 22888}}\",1.0,0.50,us-east-1,b,x86_64\n"
        "g5.xlarge,A10G,1.0,4.0,16.0,\"{'MemoryInfo': {'SizeInMiB': 22888}}\",1.0,1.0,us-east-1,c,x86_64\n"
        "g5.xlarge,A10G,1.0,4.0,16.0,\"{'MemoryInfo': {'SizeInMiB': 22888}}\",1.0,,us-east-1,d,x86_64\n"
        "g5.xlarge,A10G,1.0,4.0,16.0,\"{'MemoryInfo': {'SizeInMiB': 22888}}\",1.1,,eu-west-1,e,x86_64\n"
    )
    gcp_head = (
        "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice"
    )
    (tmp_path / "gcp_vms_v8_subset.csv").write_text(
        gcp_head + "\n"
        ",,,L4,1,\"{'Gpus': [{'MemoryInfo': {'SizeInMiB': 24576}}]}\",us-central1,us-central1-a,0.56,0.6\n"
        ",,,tpu-v6e-1,1,tpu-v6e-1,asia-east1,asia-east1-c,700.0,700.0\n"
        ",,,tpu-v5litepod-4,1,tpu-v5litepod-4,us-central1,us-central1-a,4.8,0.98\n"
    )
    az_head = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,Generation"
    (tmp_path / "azure_vms_v8_gpu_subset.csv").write_text(
        az_head
        + "\nStandard_NC8ads_A10_v4,,,8.0,100,,,,eastus,V2\nStandard_NC4as_T4_v3,T4,1,4.0,28,T4,0.5,0.5,eastus,V2\n"
    )
    rows = cat.Catalog(cat.seed_from_skypilot(tmp_path, "2026-01-02"), "seed")
    east = rows.row("aws", "vm", "g5.xlarge", "us-east-1")
    assert east is not None and east.spot_price == pytest.approx(0.45)  # median of the two real zones
    assert east.accelerator_memory_gib == 22.4 and "median of 2" in east.source
    assert rows.row("aws", "vm", "g5.xlarge", "eu-west-1").spot_status == "not-offered"  # type: ignore[union-attr]
    assert rows.gpu("L4", 1, "us-central1").spot_status == "suspect"  # type: ignore[union-attr]
    placeholder = rows.row("gcp", "tpu", "tpu-v6e-1", "asia-east1")
    assert placeholder is not None and placeholder.price_status == "placeholder" and placeholder.spot_price is None
    v5e = rows.row("gcp", "tpu", "tpu-v5litepod-4", "us-central1")
    assert v5e is not None and (v5e.accelerator, v5e.accelerator_count, v5e.accelerator_memory_gib) == (
        "TPU-v5e",
        4,
        16.0,
    )
    assert rows.row("azure", "vm", "Standard_NC8ads_A10_v4", "eastus") is None  # listed without a price: dropped
    assert rows.row("azure", "vm", "Standard_NC4as_T4_v3", "eastus").spot_status == "no-data"  # type: ignore[union-attr]
    assert {r.date for r in rows.rows} == {"2026-01-02"}
    assert rows.age_days("2026-05-02") == 120


def test_unknown_gpu_points_at_the_accelerator(shipped: cat.Catalog) -> None:
    with pytest.raises(UnknownHardware) as exc:
        rate_for(shipped, gcp("g2-standard-8", accelerator=("NVIDIA_TESLA_P4", 1)))
    assert exc.value.field == "accelerator"


def test_a_user_copy_older_than_the_shipped_catalog_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "old.csv"
    cat.write_rows(user, [cat.Row("azure", "vm", "eastus", "Standard_X", price=1.0, source="s", date="2020-01-01")])
    monkeypatch.setenv("SCALECTL_CATALOG", str(user))
    loaded = load_catalog()
    assert loaded.date == "2020-01-01" and loaded.shipped_date > loaded.date

    from scalectl.views.cost import catalog_line

    line = catalog_line(loaded)
    assert "days old" in line and "shipped with this scalectl is newer" in line


def test_a_sourced_vertex_prediction_row_wins_over_the_compute_engine_sum(shipped: cat.Catalog) -> None:
    listed = cat.Row(
        "gcp", "prediction", "us-central1", "g2-standard-8", "L4", 1, 24.0, price=1.05, spot_price=0.42,
        source="Vertex AI pricing page, copied by the platform team", date="2026-10-01",
    )  # fmt: skip
    rate, hw, _, _ = rate_for(cat.Catalog([*shipped.rows, listed], "test"), gcp("g2-standard-8"))
    assert (rate.on_demand, rate.spot, rate.basis) == (1.05, 0.42, "list")
    assert rate.source.startswith("Vertex AI pricing page") and rate.date == "2026-10-01"
    assert hw == Hardware("L4", 1, 24.0)
