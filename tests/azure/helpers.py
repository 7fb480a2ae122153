"""What the azure tests and benchmark share: a scale.yaml template and a credential double.

(Not in conftest.py: several test folders have one, so `import conftest` is ambiguous.)
"""

from __future__ import annotations

import time
from typing import Any

SCALE = """\
version: 1
name: fraud
model:
  image: {image}
  artifact: azureml:fraud-model:3
  port: 8080
  health: /ping
  predict: /invocations
  env: {{LOG_LEVEL: info}}
targets:
  prod:
    provider: azure
    subscription: 00000000-0000-0000-0000-000000000001
    resource_group: ml
    workspace: prod
    region: eastus
    instance: Standard_NC4as_T4_v3
    keep_revisions: {keep}
    autoscaling: {{min: 1, max: 4, metric: cpu, target: 70, scale_in_cooldown: 5m, scale_out_cooldown: 1m}}
    rollout: {{strategy: {strategy}, percent: 20, bake: {bake}, timeout: 60}}
{extra}"""


class FakeCredential:
    """A TokenCredential test double: ARM only needs a bearer token on every request."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("sim-token", int(time.time()) + 3600)
