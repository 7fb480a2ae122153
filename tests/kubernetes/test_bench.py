"""`scalectl bench -t <kubernetes target>` through the cluster's front door, against the simulator: the
Service via the API server's service proxy with the kubeconfig's token, or the Gateway's address when the
route's Gateway reports one. A local model server stands in for the pods."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from scalectl.checks import load_checked
from scalectl.engine import Engine
from scalectl.events import Events
from tests.bench.server import Behaviour, serve
from tests.kubernetes.conftest import ScaleWriter
from tests.kubernetes.simulator import TOKEN, KubeSim

GATEWAY = "    gateway: gateways/public\n"


def deploy(path: Path) -> None:
    Engine(load_checked(path), path.parent / "state").deploy("prod", Events())


def bodies(tmp_path: Path) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_text('{"instances": [[1, 2]]}\n')
    return path


def test_bench_goes_through_the_api_servers_service_proxy_with_the_kubeconfig_token(  # type: ignore[no-untyped-def]
    cli, sim: KubeSim, scale_file: ScaleWriter, tmp_path: Path, monkeypatch
) -> None:
    path = scale_file(min=2)
    deploy(path)
    run = ["bench", "-f", path, "-t", "prod", "--rate", "50/s", "--duration", "1s", "--requests", bodies(tmp_path)]
    with serve(Behaviour(delay=0.005)) as backend:
        unserved = cli(*run, "--output", "json")  # the Service has no ready endpoints yet: the proxy says 503
        sim.serve("ml", "fraud-prod", backend.removesuffix("/invocations"))
        result = cli(*run, "--slo", "p99=500ms,errors=0%", "--output", "json")
        kubeconfig = yaml.safe_load(Path(sim.kubeconfig(tmp_path / "kc")).read_text())
        kubeconfig["users"][0]["user"]["token"] = "wrong"
        (tmp_path / "wrong").write_text(yaml.safe_dump(kubeconfig))
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "wrong"))
        refused = cli(*run, "--output", "json")
    assert unserved.exit_code == 1 and "HTTP 503" in json.loads(unserved.stdout)["error"]
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    step = doc["steps"][0]
    assert step["ok"] == 50 and step["errors"] == {} and 5 <= step["latency_ms"]["p50"] < 100
    assert doc["url"] == f"{sim.url}/api/v1/namespaces/ml/services/fraud-prod:http/proxy/invocations"
    assert "via the API server's service proxy (bearer token)" in doc["front_door"]
    assert doc["replicas"] == 2 and doc["traffic"] == {"1": 100}
    assert sim.requests["PROXY Service"] >= 100  # every request went through the proxy
    assert TOKEN not in result.output
    assert refused.exit_code == 1 and "HTTP 401" in json.loads(refused.stdout)["error"]  # the token is checked


def test_bench_goes_to_the_gateway_address_when_the_gateway_reports_one(  # type: ignore[no-untyped-def]
    cli, sim: KubeSim, scale_file: ScaleWriter, tmp_path: Path
) -> None:
    path = scale_file(extra=GATEWAY)
    deploy(path)
    run = ["bench", "-f", path, "-t", "prod", "--rate", "40/s", "--duration", "1s", "--requests", bodies(tmp_path)]
    with serve(Behaviour(revisions=("1",))) as backend:
        sim.serve("ml", "fraud-prod", backend.removesuffix("/invocations"))
        gateway = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "public", "namespace": "gateways"},
            "spec": {"gatewayClassName": "test", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        }
        with sim.lock:
            sim.objects[("gateways", "gateways", "public")] = gateway
        pending = json.loads(cli(*run, "--output", "json").stdout)  # no address yet: the service proxy
        port = int(backend.split(":")[2].split("/")[0])
        gateway["spec"]["listeners"][0]["port"] = port  # type: ignore[index]
        gateway["status"] = {"addresses": [{"type": "IPAddress", "value": "127.0.0.1"}]}
        proxied = sim.requests["PROXY Service"]
        direct = cli(*run, "--output", "json")
    assert "service proxy" in pending["front_door"] and pending["steps"][0]["ok"] == 40
    assert direct.exit_code == 0, direct.output
    doc = json.loads(direct.stdout)
    assert doc["url"] == f"http://127.0.0.1:{port}/invocations" and doc["front_door"].startswith("Gateway ")
    assert doc["steps"][0]["ok"] == 40 and doc["steps"][0]["revisions"]["1"]["ok"] == 40
    assert sim.requests["PROXY Service"] == proxied  # nothing went through the API server
