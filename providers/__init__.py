"""Platform providers, one module per platform (installed as scalectl.providers)."""
