"""The CI examples' scalectl steps, run the way a pipeline runs them: no terminal, CI=true,
--output json, one shell per job, against the quickstart file (a staging and a production
docker target), on the real engine.

Only the lines that talk to the CI's own services (gh, curl, git fetch, pip) are left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docker.helpers import GATEWAY_IMAGE, MODEL_IMAGE, QUICKSTART, REPO, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CI = REPO / "examples" / "ci"
SKIPPED = ("gh ", "curl ", "git ", "pip ")


def jobs(ci_file: Path) -> dict[str, list[list[str]]]:
    """Job name -> its shells, each a list of lines: one per GitHub `run:` step, one per GitLab job."""
    doc = yaml.safe_load(ci_file.read_text())
    out: dict[str, list[list[str]]] = {}
    if "jobs" in doc:  # GitHub Actions
        for name, job in doc["jobs"].items():
            steps = [s for s in job["steps"] if "run" in s and "failure()" not in s.get("if", "")]
            out[name] = [s["run"].strip().splitlines() for s in steps]
    else:  # GitLab CI
        for name, job in doc.items():
            if isinstance(job, dict) and "script" in job:
                out[name] = [list(job["script"])]
    return {
        name: [[line for line in shell if not line.lstrip().startswith(SKIPPED)] for shell in shells]
        for name, shells in out.items()
    }


def run_job(shells: list[list[str]], cwd: Path, env: dict[str, str]) -> int:
    """A job's shells in turn, as both CIs run them (bash, errexit, pipefail, no terminal); the
    exit code of the first that fails, else 0."""
    for lines in shells:
        assert all("${{" not in line for line in lines), lines  # commands read env vars, not CI expressions
        proc = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", "\n".join(lines)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if proc.returncode != 0:
            if proc.returncode != 3:
                print(proc.stdout, proc.stderr, file=sys.stderr)
            return proc.returncode
    return 0


def scale_file(app: str) -> str:
    text = (QUICKSTART / "scale.yaml").read_text().replace("name: quickstart", f"name: {app}")
    text = text.replace("    replicas: 2\n", "    replicas: 2\n    hourly_cost: 0.4\n")
    return text + (
        "  production:\n"
        "    provider: docker\n"
        "    replicas: 1\n"
        "    port: ${PRODUCTION_PORT}\n"
        "    gateway_image: ${GATEWAY_IMAGE:-nginx:1.27-alpine}\n"
        "    hourly_cost: 0.4\n"
        "    rollout: {strategy: all_at_once}\n"
    )


def git(cwd: Path, *args: str) -> None:
    ident = ["-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "-C", str(cwd), *ident, *args], check=True, capture_output=True)


def test_ci_examples_pull_request_and_staged_pipeline(engine: Any, cleanup: list[str], tmp_path: Path) -> None:
    app = f"ci-{uuid.uuid4().hex[:8]}"
    cleanup.append(app)
    origin, work = tmp_path / "origin", tmp_path / "work"
    origin.mkdir()
    (origin / "scale.yaml").write_text(scale_file(app))
    (origin / "bench.jsonl").write_text((QUICKSTART / "bench.jsonl").read_text())  # the gate's bench payloads
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", "scale.yaml", "bench.jsonl")
    git(origin, "commit", "-q", "-m", "base")
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True, capture_output=True)
    # the pull request: one more replica on staging
    (work / "scale.yaml").write_text((work / "scale.yaml").read_text().replace("replicas: 2", "replicas: 3", 1))

    bin_dir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SCALECTL_", "GITHUB_"))},
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "CI": "true",
        "GIT_SHA": "0123abc",
        "STAGING_TARGET": "local",
        "PRODUCTION_TARGET": "production",
        "BASE_REF": "origin/main",  # GitHub: origin/${{ github.base_ref }}
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",  # GitLab
        "QUICKSTART_IMAGE": f"{MODEL_IMAGE}:v1",
        "GATEWAY_IMAGE": GATEWAY_IMAGE,
        "QUICKSTART_PORT": str(free_port()),
        "PRODUCTION_PORT": str(free_port()),
    }
    github, gitlab = jobs(CI / "github-actions.yml"), jobs(CI / "gitlab-ci.yml")
    assert set(github) == {"check", "deploy-staging", "gate", "deploy-production"}
    assert set(gitlab) == {"validate", "cost-comment", "deploy-staging", "gate", "deploy-production"}

    # pull request: validate, the cost comment, the production plan
    for pr_jobs in (github["check"], gitlab["validate"] + gitlab["cost-comment"]):
        for artifact in ("validate.json", "cost.json", "cost.md", "plan.json"):
            (work / artifact).unlink(missing_ok=True)
        assert run_job(pr_jobs, work, env) == 0
        assert json.loads((work / "validate.json").read_text())["ok"] is True
        comment = (work / "cost.md").read_text()
        assert comment.startswith("### scalectl cost-estimate") and "delta/mo" in comment
        assert "| **+$292.00** |" in comment  # one more replica at $0.40/h, 730 h
        assert "within budget $5,000.00/month per target" in comment
        assert json.loads((work / "plan.json").read_text())["targets"]["production"]["has_changes"] is True

    # the gate holds while staging does not run this config
    assert run_job(github["gate"], work, env) == 3

    # main: staging, gate, production; then the GitLab pipeline finds nothing left to change
    for pipeline in (github, gitlab):
        for job in ("deploy-staging", "gate", "deploy-production"):
            assert run_job(pipeline[job], work, env) == 0, job
        staging = json.loads((work / "deploy-staging.json").read_text())
        assert staging["ok"] is True and "local" in staging["targets"]
        status = json.loads((work / "staging-status.json").read_text())["targets"]["local"]
        assert status["active"] is not None and status["traffic"] == {str(status["active"]): 100}
        production = json.loads((work / "deploy-production.json").read_text())
        assert production["ok"] is True and "production" in production["targets"]
