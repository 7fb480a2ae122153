"""What `metrics` reads from a cluster: replicas, restarts and HPA utilization per revision, and what it cannot."""

from __future__ import annotations

from scalectl.providers.kubernetes.metrics import NO_TRAFFIC
from typer.testing import CliRunner

from scalectl import registry
from scalectl.checks import load_checked
from scalectl.cli import app
from scalectl.engine import Engine
from tests.kubernetes.conftest import ScaleWriter
from tests.kubernetes.simulator import KubeSim


def test_figures_per_revision_from_the_cluster(sim: KubeSim, scale_file: ScaleWriter) -> None:
    sim.utilization = {"cpu": 47}
    path = scale_file(min=2)
    result = CliRunner().invoke(app, ["deploy", "-f", str(path), "--yes", "--state-dir", str(path.parent / "st")])
    assert result.exit_code == 0, result.output
    engine = Engine(load_checked(path), path.parent / "st")
    release = engine.release("prod")
    provider = registry.get_provider("kubernetes")
    (m,) = provider.metrics(release, provider.observe(release), 300)  # type: ignore[attr-defined]
    assert (m.revision, m.replicas_desired, m.replicas_ready) == (1, 2, 2)
    assert m.cpu_percent == 47.0 and m.memory_percent is None
    assert m.source.startswith("Kubernetes API")
    assert "container restarts: 0 since its pods started" in m.notes
    assert NO_TRAFFIC in m.notes  # requests, latency and errors: said, not shown as zero figures
    assert m.p99_ms is None and m.rate_5xx is None


def test_restarts_are_counted_per_revision(sim: KubeSim, scale_file: ScaleWriter) -> None:
    path = scale_file(image="acme/scorer:crashy")
    CliRunner().invoke(app, ["deploy", "-f", str(path), "--yes", "--state-dir", str(path.parent / "st")])
    engine = Engine(load_checked(path), path.parent / "st")
    release = engine.release("prod")
    provider = registry.get_provider("kubernetes")
    live = provider.observe(release)
    found = provider.metrics(release, live, 300)  # type: ignore[attr-defined]
    restarts = [n for m in found for n in m.notes if n.startswith("container restarts: ")]
    assert restarts and int(restarts[0].split(": ")[1].split()[0]) > 0
