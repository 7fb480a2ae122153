"""Jinja2 rendering of provider templates: sandboxed, StrictUndefined, JSON-safe values.

Built-in templates live in `templates/<provider>/`; a provider installed from another package
passes its own template folder as `root`. Values that land in JSON go through the `json`
filter, so a quote in an env var cannot break (or inject into) a request body.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalectl.errors import ScalectlError

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


class RenderError(ScalectlError):
    pass


def templates_dir() -> Path:
    import scalectl.templates

    return Path(scalectl.templates.__file__).resolve().parent


@cache
def environment(root: Path | None = None) -> SandboxedEnvironment:
    """The sandboxed environment for templates under `root` (default: scalectl's own)."""
    # jinja2 is imported here, not at the top: providers import this module, and `validate` renders nothing
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(root or templates_dir())),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = lambda value: json.dumps(value)
    return env


def render_text(template: str, *, root: Path | None = None, **context: Any) -> str:
    """Render `templates/<template>` (e.g. "aws/create_model.json.j2"), or `root/<template>`."""
    from jinja2 import TemplateError

    try:
        return environment(root).get_template(template).render(**context)
    except TemplateError as exc:
        raise RenderError(f"template {template}: {exc}") from exc


def render_json(template: str, *, root: Path | None = None, **context: Any) -> dict[str, Any]:
    """Render a JSON template and parse it: what a provider sends is exactly what `render` shows."""
    text = render_text(template, root=root, **context)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RenderError(f"template {template} did not produce valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RenderError(f"template {template} must produce a JSON object")
    return value


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False) + "\n"
