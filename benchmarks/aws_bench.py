"""How fast scalectl notices a SageMaker endpoint is ready, and how many API calls a deploy costs.

Runs the real CLI (boto3 unmodified) against the SageMaker simulator from tests/aws and moto,
with the simulator set to take D seconds to provision a fleet:

1. scalectl deploy wall time minus D (detection latency + scalectl's own overhead), for a first
   deploy (CreateEndpoint) and an update (UpdateEndpoint, blue/green all-at-once, no bake), and
   the detection latency alone: from the simulator's InService transition to the first
   DescribeEndpoint answer that shows it.
2. boto3's `endpoint_in_service` waiter (30 s fixed delay) on the same simulator, run for real
   once (it costs ~30 s), and the expected latency of both waiters at realistic D computed from
   their poll schedules: the waiter and the SageMaker Python SDK's `wait_for_endpoint`
   (DEFAULT_EP_POLL = 30) both see readiness at the next multiple of 30 s.
3. API calls per deploy, counted by the servers (simulator by operation; moto by X-Amz-Target).
4. Gate: from a canary starting to fail (its 5xx figures put into CloudWatch and the guardrail
   alarm scalectl made set to ALARM, as CloudWatch would) to SageMaker's rollback completing
   (simulator, watching alarms every 10 ms, rollback_seconds 0.1) and to `scalectl deploy` exiting 1
   with the alarm and the figure in its message.

Usage: .venv/bin/python benchmarks/aws_bench.py [--skip-waiter] [--d 2 5] [--gate-runs 5]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from scalectl.cli import app  # noqa: E402
from scalectl.wait import backoff  # noqa: E402
from tests.aws.conftest import REGION, ROLE, CountingMotoServer  # noqa: E402
from tests.aws.simulator import SageMakerSimulator  # noqa: E402

SCALE = """\
version: 1
name: bench
model: {{image: acme/bench:{tag}}}
targets:
  prod:
    provider: aws
    region: us-east-1
    instance: ml.g5.xlarge
    execution_role: ROLE
    autoscaling: {{min: 1, max: 4, target: 5}}
    rollout: {{strategy: all_at_once, bake: 0}}
""".replace("ROLE", ROLE)


def environment(moto: CountingMotoServer, sim: SageMakerSimulator, home: Path) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_CONFIG_FILE=str(home / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        AWS_ENDPOINT_URL=moto.url,
        AWS_ENDPOINT_URL_SAGEMAKER=sim.url,
    )


def run_deploy(workdir: Path, tag: str) -> float:
    (workdir / "scale.yaml").write_text(SCALE.format(tag=tag))
    started = time.monotonic()
    result = CliRunner().invoke(
        app,
        [
            "deploy",
            "--yes",
            "--file",
            str(workdir / "scale.yaml"),
            "--state-dir",
            str(workdir / "state"),
            "--output",
            "json",
        ],
    )
    took = time.monotonic() - started
    if result.exit_code != 0:
        raise SystemExit(f"deploy failed: {result.stdout}{result.stderr}")
    return took


GATED = SCALE.replace(
    "rollout: {{strategy: all_at_once, bake: 0}}",
    "instance_count: 2\n    rollout: {{strategy: canary, percent: 10, bake: 60s, max_error_rate: 0.05}}",
).replace("autoscaling: {{min: 1, max: 4, target: 5}}", "autoscaling: {{min: 1, max: 4, target: 5}}")


def gate_run(moto: CountingMotoServer, work: Path) -> tuple[float, float, float, str]:
    """One failing canary: seconds from failure to SageMaker's rollback done, to scalectl's exit, and
    the canary's share of the bake it was caught in; plus scalectl's message."""
    sim = SageMakerSimulator(region=REGION).start()
    sim.provision_seconds = 0.3
    moto.reset()
    environment(moto, sim, work)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)

    def firing(names: list[str]) -> list[str]:
        return [
            a["AlarmName"]
            for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
            if a["StateValue"] == "ALARM"
        ]

    sim.alarm_source = firing
    run_deploy(work, "1")
    (work / "scale.yaml").write_text(GATED.format(tag="2"))
    failed_at: list[float] = []
    stop = threading.Event()

    def platform() -> None:  # SageMaker watches the alarms by itself, not only when asked
        while not stop.is_set():
            sim.advance()
            time.sleep(0.01)

    def canary_fails() -> None:
        while not stop.is_set():
            with sim.lock:
                up = (sim.endpoints["bench-prod"].pending or {}).get("_fleet_up")
            if up:
                break
            time.sleep(0.01)
        time.sleep(1.0)  # the canary serves a moment before it goes bad
        dims = [
            {"Name": "EndpointName", "Value": "bench-prod"},
            {"Name": "VariantName", "Value": "AllTraffic"},
            {"Name": "EndpointConfigName", "Value": "bench-prod-r2"},
        ]
        failed_at.append(time.time())
        cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dims, "Values": [1.0], "Counts": [120.0]},
                {
                    "MetricName": "Invocation5XXErrors",
                    "Dimensions": dims,
                    "Values": [1.0, 0.0],
                    "Counts": [18.0, 102.0],
                },
            ],
        )
        cloudwatch.set_alarm_state(
            AlarmName="scalectl-bench-prod-r2-5xx", StateValue="ALARM", StateReason="Threshold Crossed (benchmark)"
        )

    threads = [threading.Thread(target=platform), threading.Thread(target=canary_fails)]
    for t in threads:
        t.start()
    result = CliRunner().invoke(
        app, ["deploy", "--yes", "--file", str(work / "scale.yaml"), "--state-dir", str(work / "state")]
    )
    exited = time.time()
    stop.set()
    for t in threads:
        t.join()
    sim.stop()
    if result.exit_code != 1 or not failed_at:
        raise SystemExit(f"the gate did not roll back: exit {result.exit_code}: {result.stderr}")
    with sim.lock:
        ep = sim.endpoints["bench-prod"]
        done = [t for st, t in ep.transitions if st == "InService"][-1]
        shares = list(ep.shares)
    message = " ".join(result.stderr.split())
    message = message[message.find("SageMaker rolled back") :]
    return done - failed_at[0], exited - failed_at[0], float(shares[-1] if shares else 0), message


def scalectl_latency(d: float, schedule_cap: int = 10_000) -> float:
    """Detection latency of scalectl's poll schedule (0.25 s x 1.5^n, capped at 5 s) for a fleet ready at d."""
    delay, t, n = backoff(0.25, 1.5, 5.0), 0.0, 0
    while t < d and n < schedule_cap:
        t += delay(n)
        n += 1
    return t - d


def fixed_latency(d: float, every: float = 30.0) -> float:
    return math.ceil(d / every) * every - d


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--d", type=float, nargs="+", default=[2.0, 5.0], help="provisioning seconds to simulate")
    parser.add_argument("--skip-waiter", action="store_true", help="do not run the 30 s boto3 waiter for real")
    parser.add_argument("--gate-runs", type=int, default=5, help="failing canaries to time (0: skip)")
    args = parser.parse_args()

    cold = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t=time.monotonic(); import boto3; "
            "boto3.session.Session(region_name='us-east-1').client('sagemaker'); print(time.monotonic()-t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    moto = CountingMotoServer()
    moto.start()
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports and service models, measured above
        sim = SageMakerSimulator(region=REGION).start()
        sim.provision_seconds = 0.1
        environment(moto, sim, Path(tmp))
        run_deploy(Path(tmp), "0")
        sim.stop()
    print("# scalectl on SageMaker (simulated): detection latency and API calls per deploy\n")
    print(
        "| D (s) | deploy | wall (s) | wall - D (s) | of which detection latency (s) | SageMaker calls "
        "| autoscaling/CloudWatch calls |"
    )
    print("|---|---|---|---|---|---|---|")
    calls: dict[str, Counter[str]] = {}
    for d in args.d:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            sim = SageMakerSimulator(region=REGION).start()
            sim.provision_seconds = d
            moto.reset()
            environment(moto, sim, work)
            for kind, tag in (("create", "1"), ("update", "2")):
                before_sim, before_moto = Counter(sim.calls), Counter(moto.calls)
                wall = run_deploy(work, tag)
                sm_calls = Counter(sim.calls) - before_sim
                as_calls = Counter(moto.calls) - before_moto
                calls[f"{kind} (D={d:g})"] = sm_calls + as_calls
                detect = sim.detection_latency("bench-prod")
                print(
                    f"| {d:g} | {kind} | {wall:.2f} | {wall - d:.2f} | {detect:.2f} | {sum(sm_calls.values())} | "
                    f"{sum(as_calls.values())} |"
                )
            sim.stop()

    print(
        f"\nA fresh CLI process also pays {float(cold):.2f}s once to import boto3 and load the SageMaker "
        "model (measured in a subprocess; the rows above are a warm process)."
    )
    print("\nCalls by operation:")
    for label, counter in calls.items():
        print(f"- {label}: " + ", ".join(f"{op} {n}" for op, n in sorted(counter.items())))

    if args.gate_runs:
        rows = []
        for _ in range(args.gate_runs):
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(gate_run(moto, Path(tmp)))
        platform, cli = sorted(r[0] for r in rows), sorted(r[1] for r in rows)
        print(f"\nGate: a canary failing (5xx 15% > max_error_rate 5%) to the rollback done, {len(rows)} runs")
        print("| | min (s) | median (s) | max (s) |")
        print("|---|---|---|---|")
        for label, xs in (("SageMaker rollback complete (simulated)", platform), ("scalectl deploy exits 1", cli)):
            print(f"| {label} | {xs[0]:.2f} | {xs[len(xs) // 2]:.2f} | {xs[-1]:.2f} |")
        print(f"caught at {sorted({r[2] for r in rows})}% on the new fleet; message: {rows[-1][3][:400]}")

    if not args.skip_waiter:
        d = 5.0
        with tempfile.TemporaryDirectory() as tmp:
            sim = SageMakerSimulator(region=REGION).start()
            sim.provision_seconds = d
            environment(moto, sim, Path(tmp))
            sm = boto3.client("sagemaker", region_name=REGION)
            sm.create_model(ModelName="w", PrimaryContainer={"Image": "acme/bench:1"}, ExecutionRoleArn=ROLE)
            sm.create_endpoint_config(
                EndpointConfigName="w",
                ProductionVariants=[
                    {"VariantName": "v", "ModelName": "w", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}
                ],
            )
            started = time.monotonic()
            sm.create_endpoint(EndpointName="w", EndpointConfigName="w")
            sm.get_waiter("endpoint_in_service").wait(EndpointName="w")
            wall = time.monotonic() - started
            print(
                f"\nboto3 endpoint_in_service waiter, measured (D={d:g}s): wall {wall:.1f}s, wall - D {wall - d:.1f}s, "
                f"{sim.calls['DescribeEndpoint']} DescribeEndpoint calls"
            )
            sim.stop()

    print("\nExpected detection latency at realistic provisioning times (from each poll schedule):")
    print("| D (s) | scalectl (s) | boto3 waiter / SageMaker SDK, 30 s polls (s) |")
    print("|---|---|---|")
    for d in (97, 203, 311, 444, 578):
        print(f"| {d} | {scalectl_latency(d):.1f} | {fixed_latency(d):.1f} |")
    span = [180 + i * 0.5 for i in range(int((600 - 180) / 0.5))]
    print(
        f"| mean over D uniform in 180-600 s | {mean([scalectl_latency(x) for x in span]):.1f} | "
        f"{mean([fixed_latency(x) for x in span]):.1f} |"
    )
    moto.stop()


if __name__ == "__main__":
    main()
