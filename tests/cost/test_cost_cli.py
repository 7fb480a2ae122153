"""`scalectl cost-estimate` and `scalectl catalog show` as a user and a CI pipeline run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FILE = """\
version: 1
name: fraud
model:
  image: registry.example.com/fraud:v1
defaults:
  autoscaling: {{min: 1, max: 4, target: 60}}
targets:
  prod-azure:
    provider: azure
    subscription: sub
    resource_group: ml
    workspace: prod
    region: eastus
    instance: {azure_instance}
  prod-gcp:
    provider: gcp
    project: acme
    region: us-central1
    machine: a2-highgpu-1g
    spot: true
  local:
    provider: docker
    replicas: 2
    hourly_cost: 0.5
{traffic}"""

TRAFFIC = """\
traffic:
  peak_rps: 400
  offpeak_rps: 40
  peak_hours_per_day: 10
  replica_rps: 60
"""

HOURS = 4 * 730 * 10 / 24 + 1 * 730 * 14 / 24  # 1642.5 replica-hours at peak 4 / off-peak 1


def config(azure_instance: str = "Standard_NC4as_T4_v3", traffic: str = TRAFFIC) -> str:
    return FILE.format(azure_instance=azure_instance, traffic=traffic)


def test_json_document_has_min_expected_max_spot_and_sources(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    result = cli("cost-estimate", "-f", str(path), "--output", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    azure = doc["targets"]["prod-azure"]
    assert azure["on_demand"] == {"min": round(730 * 0.526, 2), "expected": round(HOURS * 0.526, 2), "max": 1535.92}
    assert azure["spot"] is None and "managed online" in azure["rate"]["spot_note"]
    gcp = doc["targets"]["prod-gcp"]
    host_gpu = 0.73948 + 2.93391
    assert gcp["on_demand"]["expected"] == round(HOURS * host_gpu, 2)
    assert gcp["billed"] == "spot"
    assert gcp["monthly"] == round(HOURS * (0.36975 + 1.4341), 2)
    local = doc["targets"]["local"]
    assert local["monthly"] == round(2 * 730 * 0.5, 2) and local["rate"]["basis"] == "user"
    assert doc["catalog"]["origin"] == "shipped" and doc["catalog"]["date"]
    assert doc["total_monthly"] == pytest.approx(azure["monthly"] + gcp["monthly"] + local["monthly"], abs=0.02)


def test_without_traffic_only_min_and_max_and_says_why(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config(traffic=""))
    doc = json.loads(cli("cost-estimate", "-f", str(path), "--output", "json").stdout)
    azure = doc["targets"]["prod-azure"]
    assert azure["on_demand"]["expected"] is None
    assert any("no `traffic:`" in n for n in azure["notes"])
    text = cli("cost-estimate", "-f", str(path), "--no-color")
    assert text.exit_code == 0
    assert "only min and max are known, so expected shows max" in text.stderr


def test_markdown_table_for_a_pull_request(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    result = cli("cost-estimate", "-f", str(path), "--format", "markdown")
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("### scalectl cost-estimate: `fraud`")
    assert "| target | provider | type | region | billed rate $/h | min/mo | expected/mo | max/mo |" in md
    assert (
        "| prod-azure | azure | `Standard_NC4as_T4_v3` | eastus | $0.5260 on-demand | $383.98 "
        f"| ${HOURS * 0.526:,.2f} |" in md
    )
    assert "| **total** |" in md
    assert "not offered for Azure ML managed online endpoints" in md


def test_budget_exits_4_naming_the_targets_over_it(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    ok = cli("cost-estimate", "-f", str(path), "--budget", "5000")
    assert ok.exit_code == 0
    over = cli("cost-estimate", "-f", str(path), "--budget", "800")
    assert over.exit_code == 4
    assert (
        "prod-azure" in over.stderr and "prod-gcp" in over.stderr and "local" not in over.stderr.split("over budget")[1]
    )
    as_json = cli("cost-estimate", "-f", str(path), "--budget", "800", "--output", "json")
    assert as_json.exit_code == 4
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 4
    assert doc["budget"]["over"] == ["prod-azure", "prod-gcp"]


def test_baseline_file_shows_the_monthly_delta(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    before = scale_file(config(), "before.yaml")
    after = scale_file(config(azure_instance="Standard_NC8as_T4_v3"))
    doc = json.loads(cli("cost-estimate", "-f", str(after), "--baseline", str(before), "--output", "json").stdout)
    change = doc["baseline"]["targets"]["prod-azure"]
    assert change["delta"] == pytest.approx(round(HOURS * (0.752 - 0.526), 2), abs=0.01)
    assert doc["baseline"]["targets"]["local"]["status"] == "unchanged"
    md = cli("cost-estimate", "-f", str(after), "--baseline", str(before), "--format", "markdown").stdout
    assert "delta/mo" in md and f"| +${change['delta']:,.2f} |" in md


def test_baseline_git_revision(cli, scale_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "scale.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    path.write_text(config().replace("max: 4", "max: 8"))
    doc = json.loads(cli("cost-estimate", "-f", str(path), "--baseline", "HEAD", "--output", "json").stdout)
    # peak now needs 7 replicas instead of the clamped 4: +3 replicas for the peak hours
    peak_hours = 730 * 10 / 24
    assert doc["baseline"]["targets"]["prod-azure"]["delta"] == pytest.approx(3 * peak_hours * 0.526, abs=0.01)
    bad = cli("cost-estimate", "-f", str(path), "--baseline", "no-such-rev")
    assert bad.exit_code == 2 and "no-such-rev" in bad.stderr


def test_unknown_instance_exits_2_pointing_at_the_value(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config(azure_instance="Standard_NC4as_T4_v9"))
    result = cli("cost-estimate", "-f", str(path), "--no-color")
    assert result.exit_code == 2
    line = next(n for n, text in enumerate(config().splitlines(), 1) if "instance:" in text)
    assert f"{path}:{line}:15" in result.stderr
    assert "Standard_NC4as_T4_v3" in result.stderr  # the nearest known name
    doc = json.loads(cli("cost-estimate", "-f", str(path), "--output", "json").stdout)
    assert doc["diagnostics"][0]["field"] == "targets.prod-azure.instance"


def test_unknown_region_exits_2_with_priced_regions(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config().replace("region: eastus", "region: moon-1"))
    result = cli("cost-estimate", "-f", str(path), "--output", "json")
    assert result.exit_code == 2
    diag = json.loads(result.stdout)["diagnostics"][0]
    assert diag["field"] == "targets.prod-azure.region" and "westus2" in diag["message"]


def test_placeholder_price_is_not_shown_and_blocks_a_budget(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    text = (
        config()
        .replace("machine: a2-highgpu-1g", "machine: ct6e-standard-1t")
        .replace("region: us-central1", "region: asia-east1")
    )
    path = scale_file(text)
    doc = json.loads(cli("cost-estimate", "-f", str(path), "--output", "json").stdout)
    tpu = doc["targets"]["prod-gcp"]
    assert tpu["on_demand"] is None and tpu["monthly"] is None and tpu["rate"]["basis"] == "unpriced"
    assert "700" in tpu["rate"]["problem"] and "placeholder" in tpu["rate"]["problem"]
    gated = cli("cost-estimate", "-f", str(path), "--budget", "100000")
    assert gated.exit_code == 1 and "cannot check the budget" in gated.stderr


def test_compare_lists_every_provider_cheapest_first(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    doc = json.loads(cli("cost-estimate", "-f", str(path), "--compare", "--output", "json").stdout)
    rows = doc["targets"]["prod-gcp"]["compare"]
    assert {r["provider"] for r in rows} == {"aws", "gcp", "azure"}
    assert [r["monthly"] for r in rows] == sorted(r["monthly"] for r in rows)
    by = {r["provider"]: r for r in rows}
    assert by["gcp"]["current"] and by["gcp"]["type"] == "a2-highgpu-1g"
    assert by["azure"]["hardware"].startswith("1x A100")
    assert by["aws"]["rate"]["basis"] == "estimate"  # SageMaker figure derived from EC2, labelled
    assert doc["targets"]["local"]["compare"] == []


def test_catalog_show(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("catalog", "show", "tpu-v6e-1", "--output", "json")
    rows = json.loads(result.stdout)["rows"]
    placeholder = next(r for r in rows if r["region"] == "asia-east1")
    assert placeholder["price_status"] == "placeholder"
    text = cli("catalog", "show", "ml.g5.xlarge", "--no-color")
    assert text.exit_code == 0 and "EC2 rate above times an estimate ratio" in text.stderr
    missing = cli("catalog", "show", "g5.xlarg")
    assert missing.exit_code == 2 and "g5.xlarge" in missing.stderr


def test_no_cloud_sdk_is_imported(scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from typer.testing import CliRunner\n"
        "from scalectl.cli import app\n"
        f"r = CliRunner().invoke(app, ['cost-estimate', '-f', {str(path)!r}, '--compare', '--output', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "sdks = ('boto3', 'botocore', 'google.cloud', 'google.auth', 'azure', 'docker', 'scalectl.catalog_refresh')\n"
        "print([m for m in set(sys.modules) - before if m.startswith(sdks)])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_json_can_carry_the_markdown_for_a_ci_step(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    result = cli("cost-estimate", "-f", str(path), "--output", "json", "--format", "markdown", "--budget", "100000")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["markdown"].startswith("### scalectl cost-estimate")
    assert "within budget $100,000.00/month per target" in doc["markdown"] and doc["budget"]["over"] == []


@pytest.mark.parametrize("columns", ["80", "140"])
def test_text_output_for_people(cli, scale_file, columns: str) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    result = cli("cost-estimate", "-f", str(path), "--no-color", "--compare", env={"COLUMNS": columns})
    assert result.exit_code == 0
    err = result.stderr
    assert result.stdout == ""  # people's output goes to stderr; stdout stays clean for pipes
    assert "Standard_NC4as_T4_v3" in err and "a2-highgpu-1g" in err
    assert "prod-gcp (vm-rate rate)" in err and "a2-highgpu-1g host $0.7395 + A100 x1 $2.9339" in err
    assert "billed at the spot rate (spot: true)" in err
    assert "spot: not offered for Azure ML managed online endpoints" in err
    assert "nearest equivalent hardware" in err
    assert ("expected" in err) and ("min" in err)


def test_invalid_baseline_is_named_as_the_baseline(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    before = scale_file(config().replace("replicas: 2", "replicas: two"), "before.yaml")
    path = scale_file(config())
    result = cli("cost-estimate", "-f", str(path), "--baseline", str(before))
    assert result.exit_code == 2
    assert f"--baseline {before}:" in result.stderr and "targets.local.replicas" in result.stderr


def test_spot_target_every_column_is_billed_and_adds_up(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    doc = json.loads(cli("cost-estimate", "-f", str(path), "--output", "json").stdout)
    gcp = doc["targets"]["prod-gcp"]
    spot_rate = 0.36975 + 1.4341
    assert gcp["billed"] == "spot" and gcp["billed_rate"] == pytest.approx(spot_rate)
    assert gcp["billed_monthly"]["min"] == round(730 * spot_rate, 2)
    for column in ("min", "expected", "max"):
        column_sum = sum(t["billed_monthly"][column] for t in doc["targets"].values())
        assert doc["totals"][column] == pytest.approx(column_sum, abs=0.02)
    assert doc["totals"]["expected"] == doc["total_monthly"]
    md = cli("cost-estimate", "-f", str(path), "--format", "markdown").stdout
    rows = [line.split(" | ") for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    money = [[float(c.strip("*$ |").replace(",", "")) for c in row[5:8]] for row in rows]
    *targets, total = money
    for column in range(3):
        assert sum(r[column] for r in targets) == pytest.approx(total[column], abs=0.02)
    assert f"${spot_rate:.4f} spot" in md and "$0.5260 on-demand" in md
    assert "On-demand ($3.6734/h) would be" in md  # the other rate is said, outside every total
    assert "shared/pricing" not in md


def test_total_budget_and_the_verdict_is_always_printed(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config())
    total = json.loads(cli("cost-estimate", "-f", str(path), "--output", "json").stdout)["total_monthly"]
    within = cli("cost-estimate", "-f", str(path), "--budget", "100000", "--total-budget", str(total + 1), "--no-color")
    assert within.exit_code == 0
    assert "within budget $100,000.00/month per target" in within.stderr
    assert f"total ${total:,.2f}/month is within budget" in within.stderr
    over = cli("cost-estimate", "-f", str(path), "--budget", "100000", "--total-budget", "4000", "--output", "json")
    assert over.exit_code == 4
    doc = json.loads(over.stdout)
    assert doc["budget"]["total_over"] is True and doc["budget"]["over"] == []
    assert f"over budget $4,000.00 by ${total - 4000:,.2f}" in doc["error"]
    unset = cli("cost-estimate", "-f", str(path), "--no-color")
    assert "budget: no budget set" in unset.stderr


def test_compare_says_costs_more_and_keeps_the_accelerator_class(cli, scale_file) -> None:  # type: ignore[no-untyped-def]
    path = scale_file(config(azure_instance="Standard_NC24ads_A100_v4"))
    result = cli("cost-estimate", "-f", str(path), "-t", "prod-azure", "--compare", "--output", "json")
    rows = json.loads(result.stdout)["targets"]["prod-azure"]["compare"]
    aws = next(r for r in rows if r["provider"] == "aws")
    assert "A100" in aws["hardware"], aws  # an A100 80GB target is matched with A100s, not 8x A10G
    pricier = [r for r in rows if r["saves"] < 0]
    assert pricier
    md = cli("cost-estimate", "-f", str(path), "-t", "prod-azure", "--compare", "--format", "markdown").stdout
    assert f"costs ${-pricier[0]['saves']:,.2f} more" in md and "saves -$" not in md
