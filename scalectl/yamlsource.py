"""Read YAML into plain Python values while remembering where each value came from.

Positions are kept in a side table keyed by the value's path in the document, so any
later finding (a pydantic error, a provider's capability check) can name file, line and
column. Defaults merged into targets keep the positions of the lines they came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from scalectl.errors import ConfigError, Diagnostic

MAX_BYTES = 1024 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 40

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Document:
    """A parsed file: its data plus where every value and key stood."""

    file: str
    data: Any
    values: dict[Path_, Mark] = field(default_factory=dict)
    keys: dict[Path_, Mark] = field(default_factory=dict)
    # where a value merged from `defaults:` came from: ("targets", "t", "rollout") -> ("defaults", "rollout")
    inherited: dict[Path_, Path_] = field(default_factory=dict)

    def origin(self, loc: Path_) -> Path_:
        """The path a finding should name: under `defaults.` when the value was inherited from there."""
        for i in range(len(loc), 0, -1):
            source = self.inherited.get(tuple(loc[:i]))
            if source is not None:
                return (*source, *loc[i:])
        return tuple(loc)

    def mark(self, loc: Path_, *, key: bool = False) -> Mark | None:
        """The position for `loc`, or for its nearest ancestor that has one.

        Elements of `loc` that are not in the data (pydantic's union tags) are skipped.
        """
        path = self._real_path(loc)
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), Mark(1, 1))

    def _real_path(self, loc: Path_) -> Path_:
        node: Any = self.data
        out: list[str | int] = []
        for part in loc:
            if _contains(node, part):
                node = node[part]
                out.append(part)
            elif isinstance(node, Mapping | list) and isinstance(part, str) and not _is_union_tag(part):
                # a key that is not there (missing field / unknown) is still a place to point at
                out.append(part)
                break
        return tuple(out)

    def locate(self, diag: Diagnostic) -> Diagnostic:
        """Return `diag` with file, line and column filled in."""
        if diag.line:
            return diag
        unknown_key = diag.message.startswith("unknown key")
        mark = self.mark(diag.loc, key=unknown_key) or Mark(1, 1)
        return Diagnostic(
            message=diag.message,
            loc=diag.loc,
            severity=diag.severity,
            file=self.file,
            line=mark.line,
            column=mark.column,
        )


def _contains(node: Any, part: str | int) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return isinstance(node, Mapping) and part in node


def _is_union_tag(part: str) -> bool:
    from scalectl import registry

    return part in registry.platforms() or part.startswith("function-")


def read_document(path: Path) -> Document:
    """Load a YAML file with positions; every problem raises ConfigError with a place."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Diagnostic("file not found (run `scalectl init` to write a starter)", file=name)]) from None
    except OSError as exc:
        raise ConfigError([Diagnostic(f"cannot read file: {exc.strerror}", file=name)]) from None
    return parse_document(raw, name)


def parse_document(raw: bytes, name: str) -> Document:
    def fail(message: str, line: int = 1, column: int = 1) -> ConfigError:
        return ConfigError([Diagnostic(message, file=name, line=line, column=column)])

    if len(raw) > MAX_BYTES:
        raise fail(f"file is {len(raw) / 1e6:.1f} MB; a scale file may be at most {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise fail(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", line, column) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise fail("file is empty; expected a mapping with `version`, `name`, `model` and `targets`")
    try:
        _refuse_deep_nesting(text, fail)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{exc.context}: {problem}"
        if "\t" in text and "tab" not in problem and mark is not None:
            line_text = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
            if "\t" in line_text:
                problem += " (tabs are not allowed for indentation in YAML)"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise fail(f"invalid YAML: {problem}", line, col) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}") from None
    if node is None:
        raise fail("file is empty; expected a mapping with `version`, `name`, `model` and `targets`")
    builder = _Builder(name)
    data = builder.build(node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    doc = Document(name, data, builder.values, builder.keys)
    return doc


def _refuse_deep_nesting(text: str, fail: Callable[[str, int, int], ConfigError]) -> None:
    """Stop a file nested deeper than MAX_DEPTH before PyYAML's recursive composer sees it.

    The event parser keeps its own stack, so 20,000 nested lists cost a loop here instead of
    a RecursionError in `yaml.compose`.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH + 1:  # the top-level mapping is depth 1; values below it count from 0
                mark = event.start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                raise fail(f"nesting deeper than {MAX_DEPTH} levels", line, column)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _Builder:
    """Turns a composed YAML node tree into dicts/lists/scalars plus position tables."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path_, Mark] = {}
        self.keys: dict[Path_, Mark] = {}
        self.problems: list[Diagnostic] = []
        self.count = 0
        self.scalars = SafeConstructor()

    def _problem(self, node: yaml.Node, message: str, loc: Path_) -> None:
        m = node.start_mark
        self.problems.append(Diagnostic(message, loc=loc, file=self.file, line=m.line + 1, column=m.column + 1))

    def build(self, node: yaml.Node, path: Path_, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            self._problem(node, f"document expands to more than {MAX_NODES} values (alias bomb?)", path)
            raise ConfigError(self.problems)
        if depth > MAX_DEPTH:
            self._problem(node, f"nesting deeper than {MAX_DEPTH} levels", path)
            raise ConfigError(self.problems)
        self.values[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    merged = self.build(value_node, path, depth + 1)
                    sources = merged if isinstance(merged, list) else [merged]
                    for src in sources:
                        if isinstance(src, dict):
                            for k, v in src.items():
                                out.setdefault(k, v)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    self._problem(key_node, "keys must be plain strings", path)
                    continue
                key = key_node.value
                if key in out:
                    first = self.keys.get((*path, key))
                    where = f" (first defined on line {first.line})" if first else ""
                    self._problem(key_node, f"duplicate key `{key}`{where}", (*path, key))
                    continue
                self.keys[(*path, key)] = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, (*path, key), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        try:
            return self.scalars.construct_object(node)
        except yaml.YAMLError as exc:
            self._problem(node, f"invalid value: {exc}", path)
            return None


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(doc: Document, env: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """Replace `${VAR}` and `${VAR:-default}` in every string value, in place.

    `$$` is a literal `$`. An unset variable without a default is a finding at its value.
    """
    environ = os.environ if env is None else env
    problems: list[Diagnostic] = []

    def sub_one(text: str, path: Path_) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            value = environ.get(name)
            if value is None or (value == "" and ":-" in m.group(0)):
                if default is not None:
                    return default
                problems.append(
                    doc.locate(
                        Diagnostic(
                            f"environment variable {name} is not set "
                            f"(set it, or write ${{{name}:-default}} to give a fallback)",
                            loc=path,
                        )
                    )
                )
                return m.group(0)
            return value

        return _VAR.sub(repl, text)

    def walk(node: Any, path: Path_) -> Any:
        if isinstance(node, dict):
            for k in node:
                node[k] = walk(node[k], (*path, k))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                node[i] = walk(item, (*path, i))
        elif isinstance(node, str) and "$" in node:
            return sub_one(node, path)
        return node

    walk(doc.data, ())
    return problems


def merge_defaults(doc: Document, defaults: Mapping[str, Any], target: str) -> None:
    """Deep-merge `defaults` under `targets.<target>` (the target wins), moving positions along."""
    tpath: Path_ = ("targets", target)
    node = doc.data["targets"][target]

    def merge(dst: dict[str, Any], src: Mapping[str, Any], dpath: Path_, spath: Path_) -> None:
        for key, value in src.items():
            if key not in dst:
                dst[key] = _copy(value)
                _copy_positions(doc, (*spath, key), (*dpath, key))
                doc.inherited[(*dpath, key)] = (*spath, key)
            elif isinstance(dst[key], dict) and isinstance(value, Mapping):
                merge(dst[key], value, (*dpath, key), (*spath, key))

    if isinstance(node, dict):
        merge(node, defaults, tpath, ("defaults",))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _copy_positions(doc: Document, src: Path_, dst: Path_) -> None:
    n = len(src)
    for table in (doc.values, doc.keys):
        for path, mark in list(table.items()):
            if path[:n] == src:
                table[dst + path[n:]] = mark


def source_dir(file: str) -> Path:
    return Path(file).resolve().parent
