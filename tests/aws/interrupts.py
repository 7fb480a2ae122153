"""Where a signal (or a SIGKILL) lands in a SageMaker rollout, for the interruption tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def stop_when(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, when: Callable[[dict[str, Any] | None], bool]
) -> None:
    """The first endpoint wait that sees `when(desc)` raises `exc` there (the signal arriving mid-wait)."""
    from scalectl.providers.aws import rollout

    real = rollout.wait_endpoint
    fired: list[bool] = []

    def wait(sm: Any, name: str, events: Any, *, timeout: float, done: Callable[..., bool]) -> Any:
        def check(desc: dict[str, Any] | None) -> bool:
            if not fired and when(desc):
                fired.append(True)
                raise exc
            return done(desc)

        return real(sm, name, events, timeout=timeout, done=check)

    monkeypatch.setattr(rollout, "wait_endpoint", wait)


def baking(desc: dict[str, Any] | None) -> bool:
    """The canary holds its share of the traffic and bakes."""
    for variant in (desc or {}).get("PendingDeploymentSummary", {}).get("ProductionVariants", []):
        if any(s["Status"] == "Baking" for s in variant.get("VariantStatus", [])):
            return True
    return False


def in_bake(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    stop_when(monkeypatch, exc, baking)
