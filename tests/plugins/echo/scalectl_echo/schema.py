"""The keys of an `echo` target."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scalectl.schema import TargetBase


class EchoTarget(TargetBase):
    provider: Literal["echo"]
    state_file: str = Field(description="JSON file that plays the platform, relative to scale.yaml")
    replicas: int = Field(1, ge=1, le=8)
