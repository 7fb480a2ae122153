"""`provider: echo`: an example platform from outside scalectl, declared by entry point.

Its "platform" is a JSON file (`state_file`), so it validates, renders, plans, deploys and
rolls back with no cloud; docs/adding-a-provider.md walks through it.
"""

from scalectl.registry import Platform
from scalectl_echo.schema import EchoTarget

PLATFORM = Platform(
    name="echo",
    schema=EchoTarget,
    provider="scalectl_echo.provider:EchoProvider",
    description="a JSON file standing in for a platform",
)
