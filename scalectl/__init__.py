"""scalectl: one scale.yaml -> an autoscaled, safely updatable model endpoint."""

__version__ = "0.1.0"
