"""Built-in platforms, one package each with the same module names for the same roles (installed as scalectl.providers).

schema (target keys, no SDK), checks (offline rules), requests (pure: release -> bodies),
api (SDK wrapper, imported lazily), provider (the Provider: wires the rest), rollout
(deploy, rollback, destroy), pricing (catalog rates). See docs/adding-a-provider.md.
"""
