"""scale.yaml -> typed model.

The models are strict (unknown keys are errors) and every finding carries a place in the
file. `load_config` reads, interpolates `${VAR}`, merges `defaults:` into each target and
validates; each platform's offline capability checks are the next, separate step
(`scalectl.checks.check_config`). The `targets.<name>` union is built from the provider
registry, so a new platform adds its schema without touching this file.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator

from scalectl import registry
from scalectl.errors import ConfigError, Diagnostic, did_you_mean
from scalectl.schema import Defaults, ModelSpec, Strict, TargetBase, Traffic
from scalectl.yamlsource import Document, interpolate, merge_defaults, read_document


class ScaleFile(Strict):
    """The whole scale.yaml."""

    version: Literal[1] = Field(description="file format version")
    name: str = Field(description="application name: lowercase letters, digits and '-', at most 40 characters")
    model: ModelSpec
    defaults: Defaults = Field(default_factory=Defaults)
    targets: dict[str, TargetBase] = Field(min_length=1)  # the registry's union: see `scale_file_model`
    traffic: Traffic | None = None

    @field_validator("name")
    @classmethod
    def _app_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", value):
            raise ValueError(
                f"name {value!r} must start with a letter and use only lowercase letters, digits and '-' "
                "(at most 40 characters): it becomes part of cloud resource names"
            )
        return value

    @field_validator("targets")
    @classmethod
    def _target_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", name):
                raise ValueError(f"target name {name!r} must be lowercase letters, digits and '-', <= 31 chars")
        return value


@cache
def scale_file_model(providers: frozenset[str] | None = None) -> type[ScaleFile]:
    """`ScaleFile` whose targets are the union of the platforms' schemas, by `provider`.

    `providers` narrows the union to the platforms a file names (all when None, or when it names
    none that exist), so a file using built-in platforms loads no installed plugin.
    """
    known = registry.platforms_for(providers) if providers is not None else {}
    schemas = tuple(p.schema for p in (known or registry.platforms()).values())
    member: Any = schemas[0] if len(schemas) == 1 else Annotated[Union[schemas], Field(discriminator="provider")]  # noqa: UP007
    model: type[ScaleFile] = create_model(
        "ScaleFile", __base__=ScaleFile, __doc__=ScaleFile.__doc__, targets=(dict[str, member], Field(min_length=1))
    )
    return model


def json_schema() -> dict[str, Any]:
    schema = scale_file_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "scalectl scale.yaml"
    return schema


@dataclass(frozen=True)
class Config:
    """A validated scale file and where it came from."""

    path: Path
    spec: ScaleFile
    document: Document
    warnings: tuple[Diagnostic, ...] = ()

    def select(self, names: Sequence[str] | None) -> list[str]:
        """Target names to act on: all when none given; unknown names are bad input."""
        if not names:
            return list(self.spec.targets)
        unknown = [n for n in names if n not in self.spec.targets]
        if unknown:
            from scalectl.errors import UsageError

            hints = did_you_mean(unknown[0], list(self.spec.targets))
            raise UsageError(
                f"unknown target {unknown[0]!r} in {self.path}{hints}; targets are: {', '.join(self.spec.targets)}"
            )
        return list(dict.fromkeys(names))


def effective_model(spec: ScaleFile, target: str) -> ModelSpec:
    """`model` as one target runs it: the target's `model:` overrides applied."""
    override = spec.targets[target].model
    if override is None:
        return spec.model
    base = spec.model
    return base.model_copy(
        update={
            "image": override.image or base.image,
            "artifact": override.artifact or base.artifact,
            "env": {**base.env, **override.env},
            "secrets": {**base.secrets, **override.secrets},
        }
    )


def digest(spec: ScaleFile, target: str) -> str:
    """Content digest of what a target runs: the model plus the target's settings."""
    # Where the lease lives, when drift is called and the deploy order change nothing deployed; capture does,
    # once it is set. Leaving them out also keeps the digests of files written before these keys existed.
    settings = spec.targets[target].model_dump(mode="json", exclude={"lock", "monitoring", "wave"})
    capture = spec.targets[target].monitoring.capture
    if capture is not None:
        settings["capture"] = capture.model_dump(mode="json")
    payload = {"name": spec.name, "model": spec.model.model_dump(mode="json"), "target": settings}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def load_config(path: Path | str, *, env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate, merge defaults and validate a scale file (no provider checks).

    Raises ConfigError carrying every finding with its place; never a traceback.
    """
    path = Path(path)
    doc = read_document(path)
    problems = interpolate(doc, env)
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError([doc.locate(Diagnostic("the file must be a mapping (key: value), not a list or a scalar"))])

    defaults = data.get("defaults")
    if isinstance(defaults, dict) and isinstance(data.get("targets"), dict):
        for name, tgt in data["targets"].items():
            if isinstance(tgt, dict):
                merge_defaults(doc, defaults, name)

    spec: ScaleFile | None = None
    try:
        spec = scale_file_model(_provider_names(data)).model_validate(data)
    except ValidationError as exc:
        # a value whose ${VAR} is unset is reported once, as that, not again as whatever it fails to parse as
        unset = {(d.line, d.column) for d in problems}
        located = [doc.locate(d) for d in _diagnostics_from(exc, data, doc.origin)]
        problems += [d for d in located if (d.line, d.column) not in unset]

    problems = dedupe(problems)
    if problems:
        raise ConfigError(problems)
    assert spec is not None
    return Config(path=path, spec=spec, document=doc)


def _provider_names(data: dict[str, Any]) -> frozenset[str]:
    targets = data.get("targets")
    if not isinstance(targets, dict):
        return frozenset()
    return frozenset(
        t["provider"] for t in targets.values() if isinstance(t, dict) and isinstance(t.get("provider"), str)
    )


def dedupe(items: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[int, int, str]] = set()
    out = []
    for d in items:
        key = (d.line, d.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return sorted(out, key=lambda d: (d.line, d.column))


def _diagnostics_from(
    exc: ValidationError, data: Any, origin: Callable[[tuple[str | int, ...]], tuple[str | int, ...]] | None = None
) -> list[Diagnostic]:
    """Pydantic errors -> findings with document paths and messages written for people.

    `origin` maps a path to where its value was written: a value a target inherited from
    `defaults:` is reported at `defaults.…` (once, not once per target).
    """
    grouped: dict[tuple[str | int, ...], list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = _document_loc(tuple(err["loc"]))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _fields_at(loc[:-1], data)
            message = f"unknown key `{key}`{did_you_mean(key, allowed)}"
            if allowed:
                message += f"; allowed here: {', '.join(sorted(allowed))}"
        elif kind == "missing":
            message = f"required key `{loc[-1]}` is missing"
        elif kind == "union_tag_invalid":
            given = str(err.get("ctx", {}).get("tag", ""))
            loc = (*loc, "provider")
            names = list(registry.platforms())
            message = f"unknown provider `{given}`{did_you_mean(given, names)}; expected one of: {', '.join(names)}"
        elif kind == "union_tag_not_found":
            message = f"required key `provider` is missing; expected one of: {', '.join(registry.platforms())}"
        elif kind == "too_short" and loc == ("targets",):
            message = "at least one target is required"
        elif kind in ("literal_error", "enum") and re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected"))):
            given = str(err.get("input", ""))
            options = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            message = f"`{given}` is not one of: {', '.join(options)}{did_you_mean(given, options)}"
        else:
            message = err["msg"].removeprefix("Value error, ")
        grouped.setdefault(origin(loc) if origin else loc, []).append(message)
    # a value that fits none of a union's members gets one finding, not one per member
    return [Diagnostic(message="; or ".join(dict.fromkeys(msgs)), loc=loc) for loc, msgs in grouped.items()]


def _document_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's union markers (provider tags, `literal['all']`, `int`) from an error path."""
    if len(loc) >= 3 and loc[0] == "targets" and loc[2] in registry.platforms():
        loc = (*loc[:2], *loc[3:])
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _TYPE_MARKERS or "[" in p)))


_TYPE_MARKERS = {"int", "str", "float", "bool", "none", "function-after", "function-before", "function-wrap"}


def _fields_at(loc: tuple[Any, ...], data: Any) -> list[str]:
    """Field names of the model that sits at `loc` in the document, for did-you-mean."""
    ann: Any = scale_file_model()
    node = data
    for part in loc:
        ann = _resolve(ann, node)
        origin = typing.get_origin(ann)
        if origin is dict:
            ann = typing.get_args(ann)[1]
        elif origin is list:
            ann = typing.get_args(ann)[0]
        elif isinstance(ann, type) and issubclass(ann, BaseModel) and str(part) in ann.model_fields:
            ann = ann.model_fields[str(part)].annotation
        else:
            return []
        node = node.get(part) if isinstance(node, dict) else None
    ann = _resolve(ann, node)
    return list(ann.model_fields) if isinstance(ann, type) and issubclass(ann, BaseModel) else []


def _resolve(ann: Any, node: Any) -> Any:
    """Strip Annotated/Optional; pick the union member the data's `provider` names."""
    while True:
        origin = typing.get_origin(ann)
        if origin is Annotated:
            ann = typing.get_args(ann)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(options) == 1:
                ann = options[0]
                continue
            provider = node.get("provider") if isinstance(node, dict) else None
            for option in options:
                fields = getattr(option, "model_fields", {})
                if "provider" in fields and provider in typing.get_args(fields["provider"].annotation):
                    return option
            return None
        else:
            return ann
