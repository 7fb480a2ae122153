"""Jinja2 templates, one folder per provider (installed as scalectl.templates)."""
