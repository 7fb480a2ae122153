"""`scalectl catalog refresh` against local servers speaking each price API's wire format."""

from __future__ import annotations

import json

import pytest

from scalectl import catalog as cat
from tests.cost.price_servers import serve

AZURE_FILE = """\
version: 1
name: fraud
model: {image: x:v1}
targets:
  prod:
    provider: azure
    subscription: s
    resource_group: r
    workspace: w
    region: eastus
    instance: Standard_NC4as_T4_v3
"""


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")


def test_azure_refresh_writes_the_user_copy_and_cost_estimate_uses_it(cli, scale_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "catalog.csv"
    with serve("azure") as server:
        server.throttle_once = True  # the Retail Prices API throttles; a 429 with Retry-After is waited out
        env = {"SCALECTL_AZURE_PRICES_URL": server.url, "SCALECTL_CATALOG": str(target)}
        result = cli("catalog", "refresh", "--provider", "azure", "--output", "json", env=env)
        assert result.exit_code == 0, result.output
        assert any("%24skip=2" in c or "$skip=2" in c for c in server.calls)  # followed NextPageLink
        assert server.calls[0] == server.calls[1]  # the throttled request was repeated
    doc = json.loads(result.stdout)
    assert doc["path"] == str(target) and doc["providers"]["azure"]["updated"] == 2
    row = cat.Catalog(cat.read_rows(target), "t").row("azure", "vm", "Standard_NC4as_T4_v3", "eastus")
    assert row is not None
    assert (row.price, row.spot_price, row.spot_status) == (0.55, 0.061, "ok")  # Windows and Low Priority ignored
    assert row.source.startswith("Azure Retail Prices API") and row.date == doc["date"]
    # other providers' rows are kept from the shipped catalog
    shipped = cat.read_rows(cat.shipped_path())
    assert sum(r.provider == "aws" for r in cat.read_rows(target)) == sum(r.provider == "aws" for r in shipped)

    est = cli(
        "cost-estimate", "-f", str(scale_file(AZURE_FILE)), "--output", "json", env={"SCALECTL_CATALOG": str(target)}
    )
    out = json.loads(est.stdout)
    assert out["catalog"]["origin"] == str(target)
    assert out["targets"]["prod"]["rate"]["on_demand"] == 0.55


def test_gcp_refresh_sums_core_and_ram_skus_per_machine(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "catalog.csv"
    with serve("gcp") as server:
        env = {
            "SCALECTL_GCP_BILLING_URL": server.url,
            "SCALECTL_CATALOG": str(target),
            "SCALECTL_GCP_API_KEY": "test-key",
        }
        result = cli("catalog", "refresh", "--provider", "gcp", env=env)
        assert result.exit_code == 0, result.output
        assert len(server.calls) == 3  # 9 SKUs, 3 per page
    rows = cat.Catalog(cat.read_rows(target), "t")
    g2 = rows.row("gcp", "vm", "g2-standard-8", "us-central1")
    assert g2 is not None
    assert g2.price == pytest.approx(8 * 0.024988 + 32 * 0.002927)
    assert g2.spot_price == pytest.approx(8 * 0.01 + 32 * 0.0012)
    l4x2 = rows.gpu("L4", 2, "us-central1")
    assert l4x2 is not None and l4x2.price == pytest.approx(1.0) and l4x2.spot_price == pytest.approx(0.4)
    east = rows.gpu("L4", 1, "us-east4")
    assert east is not None and east.spot_status == "not-offered"
    # TPU rows are not in Compute Engine SKUs: kept as shipped, placeholder still refused
    tpu = rows.row("gcp", "tpu", "tpu-v6e-1", "asia-east1")
    assert tpu is not None and tpu.price_status == "placeholder"


def test_gcp_refresh_needs_credentials_and_reports_api_errors(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "catalog.csv"
    missing = cli("catalog", "refresh", "--provider", "gcp", env={"SCALECTL_CATALOG": str(target)})
    assert missing.exit_code == 2 and "SCALECTL_GCP_API_KEY" in missing.stderr
    with serve("gcp") as server:
        env = {"SCALECTL_GCP_BILLING_URL": server.url, "SCALECTL_CATALOG": str(target), "SCALECTL_GCP_API_KEY": "bad"}
        denied = cli("catalog", "refresh", "--provider", "gcp", env=env)
    assert denied.exit_code == 1
    assert "HTTP 403" in denied.stderr and "missing a valid API key" in denied.stderr
    assert not target.exists()  # nothing written on failure


def test_aws_refresh_through_boto3_against_a_price_list_server(cli, tmp_path, aws_env) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "catalog.csv"
    with serve("aws") as server:
        server.throttle_once = True  # botocore retries a ThrottlingException by itself
        env = {"AWS_ENDPOINT_URL_PRICING": server.url, "SCALECTL_CATALOG": str(target)}
        result = cli("catalog", "refresh", "--provider", "aws", "--output", "json", env=env)
        assert result.exit_code == 0, result.output
        services = {body["ServiceCode"] for _t, body in server.calls}
        assert services == {"AmazonEC2", "AmazonSageMaker"}
    rows = cat.Catalog(cat.read_rows(target), "t")
    hosting = rows.row("aws", "hosting", "ml.g5.xlarge", "us-east-1")
    assert hosting is not None and hosting.price == 1.408 and "AmazonSageMaker Hosting" in hosting.source
    assert rows.row("aws", "hosting", "ml.inf2.xlarge", "us-east-1").price == 0.99  # type: ignore[union-attr]
    ec2 = rows.row("aws", "vm", "g5.xlarge", "us-east-1")
    assert ec2 is not None and ec2.price == 1.006 and ec2.spot_price == 0.436 and "spot kept from" in ec2.source
    mumbai = rows.row("aws", "vm", "g5.xlarge", "ap-south-1")
    assert mumbai is not None and mumbai.price == 1.23  # Windows product filtered out by the TERM_MATCH filters

    target_rate = cat.rate_for(
        rows,
        type("T", (), {"provider": "aws", "instance": "ml.g5.xlarge", "region": "us-east-1", "hourly_cost": None})(),
    )[0]
    assert (target_rate.basis, target_rate.on_demand) == ("list", 1.408)


def test_offline_refresh_fails_clearly_and_keeps_the_catalog(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "catalog.csv"
    env = {"SCALECTL_AZURE_PRICES_URL": "http://127.0.0.1:9", "SCALECTL_CATALOG": str(target)}
    result = cli("catalog", "refresh", "--provider", "azure", env=env)
    assert result.exit_code == 1
    assert "cannot reach Azure Retail Prices" in result.stderr
    assert not target.exists()


def test_refresh_without_provider_asks_all_three(cli, tmp_path, aws_env) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "catalog.csv"
    with serve("aws") as aws, serve("azure") as azure, serve("gcp") as gcp:
        env = {
            "AWS_ENDPOINT_URL_PRICING": aws.url,
            "SCALECTL_AZURE_PRICES_URL": azure.url,
            "SCALECTL_GCP_BILLING_URL": gcp.url,
            "SCALECTL_GCP_TOKEN": "test-token",
            "SCALECTL_CATALOG": str(target),
        }
        result = cli("catalog", "refresh", "--output", "json", env=env)
        assert result.exit_code == 0, result.output
        assert aws.calls and azure.calls and gcp.calls
    doc = json.loads(result.stdout)
    assert set(doc["providers"]) == {"aws", "gcp", "azure"}
    assert all(info["updated"] > 0 for info in doc["providers"].values())
    shown = cli("catalog", "show", "ml.g5.xlarge", "--output", "json", env={"SCALECTL_CATALOG": str(target)})
    rows = json.loads(shown.stdout)["rows"]
    assert any(r["kind"] == "hosting" and r["price"] == 1.408 for r in rows)
