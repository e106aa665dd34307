"""YAML rule files with line numbers, and an issue log that reports every problem at once.

`load_yaml` keeps the line of every mapping, key and list item, so a loader that validates
the plain data can name `path:line` in each error (as pySigma does) and raise them together.
`load_located` parses to plain values plus a line for each key/index path, for validators
(the detection-rule loader) that address values by path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from yaml.constructor import SafeConstructor

from detector.errors import DistillguardError

Location = tuple[str | int, ...]


class YamlMap(dict[str, Any]):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class YamlList(list[Any]):
    """A YAML sequence that remembers its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


@dataclass(frozen=True)
class RuleIssue:
    """One problem in a rule file, printed as `path:line: message`."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class RuleFileError(DistillguardError):
    """One or more rule files are invalid; `issues` lists every problem found."""

    def __init__(self, issues: list[RuleIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("invalid rule file(s):\n" + "\n".join(str(i) for i in issues))


@dataclass
class IssueLog:
    """Collects issues across files; `raise_if_any` raises them all in one error."""

    issues: list[RuleIssue] = field(default_factory=list)

    def add(self, path: Path, line: int, message: str) -> None:
        self.issues.append(RuleIssue(path, line, message))

    def raise_if_any(self) -> None:
        if self.issues:
            raise RuleFileError(self.issues)


class YamlSyntaxError(ValueError):
    """The file is not valid YAML; carries the 1-based line of the problem."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class LocatedDocument:
    """A parsed YAML document and the line of each value, keyed by its path of keys/indices."""

    source: str
    value: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, path: Location) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def _compose(text: str) -> yaml.Node | None:
    """The node tree of `text` (None when empty); raise `YamlSyntaxError` when invalid."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlSyntaxError(str(error.problem or error), mark.line + 1 if mark else 1) from error
    except yaml.YAMLError as error:
        raise YamlSyntaxError(str(error), 1) from error


def _convert(node: yaml.Node, constructor: SafeConstructor) -> Any:
    if isinstance(node, yaml.MappingNode):
        mapping = YamlMap()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = str(_convert(key_node, constructor))
            mapping[key] = _convert(value_node, constructor)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping
    if isinstance(node, yaml.SequenceNode):
        items = YamlList(_convert(item, constructor) for item in node.value)
        items.line = node.start_mark.line + 1
        items.item_lines = [item.start_mark.line + 1 for item in node.value]
        return items
    return constructor.construct_object(node, deep=True)


def _locate(node: yaml.Node, path: Location, lines: dict[Location, int], constructor: SafeConstructor) -> Any:
    # Plain values with typed keys; a mapping value is located at its key's line.
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            child = (*path, key if isinstance(key, str | int) else str(key))
            result[key] = _locate(value_node, child, lines, constructor)
            lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_locate(item, (*path, i), lines, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def load_yaml(path: Path, log: IssueLog) -> Any:
    """Parse one YAML file into YamlMap/YamlList/scalars; a syntax error is logged, giving None."""
    try:
        node = _compose(path.read_text(encoding="utf-8"))
    except YamlSyntaxError as error:
        log.add(path, error.line, f"YAML syntax error: {error}")
        return None
    except OSError as error:
        log.add(path, 0, f"cannot read: {error.strerror}")
        return None
    return None if node is None else _convert(node, SafeConstructor())


def load_located(path: Path) -> LocatedDocument:
    """Parse one YAML file into plain values and line numbers; raise `YamlSyntaxError` when invalid.

    Unreadable files raise `OSError`/`UnicodeDecodeError` for the caller to report.
    """
    node = _compose(path.read_text(encoding="utf-8"))
    lines: dict[Location, int] = {}
    value = None if node is None else _locate(node, (), lines, SafeConstructor())
    return LocatedDocument(source=str(path), value=value, lines=lines)


_UNICODE_CLASS = re.compile(r"(?<!\\)\\([bBsdw])")
_ESCAPE = re.compile(r"\\[pP]\{[^}]*\}|\\[pP][A-Za-z]|\\.")


def ascii_classes(pattern: str) -> str:
    r"""Rewrite `\b \B \s \d \w` as their ASCII forms, e.g. `(?-u:\b)`.

    The Rust engine's fast DFAs cannot evaluate Unicode word boundaries, and Unicode classes
    blow up their state count; with them a rule runs 5 to 60 times slower.
    """
    return _UNICODE_CLASS.sub(r"(?-u:\\\1)", pattern)


def lowercase_regex(patterns: Iterable[str]) -> str:
    """One regex matching any of `patterns` in lowercased text (rules are case-insensitive).

    Text is lowercased once per column and patterns run case-sensitively: the `(?i)` flag
    makes every pass several times slower.
    """
    return "|".join("(?:" + ascii_classes(pattern) + ")" for pattern in patterns)


def uppercase_literal(pattern: str) -> bool:
    """Whether `pattern` has an uppercase letter outside escapes: it could never match lowercased text."""
    return any(ch.isupper() for ch in _ESCAPE.sub("", pattern))


def rust_regex_error(pattern: str) -> str | None:
    """Why polars' Rust regex engine rejects `pattern` (lookarounds, backreferences...), or None."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.ComputeError as error:
        reasons = [line.strip() for line in str(error).splitlines() if line.strip().startswith("error:")]
        return reasons[0].removeprefix("error:").strip() if reasons else str(error).splitlines()[0]
    return None


def expect(value: Any, kind: type | tuple[type, ...], path: Path, line: int, what: str, log: IssueLog) -> bool:
    """Log an issue unless `value` has type `kind`; bools are not accepted as numbers."""
    if isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind)):
        return True
    log.add(path, line, f"{what} must be {_names(kind)}, got {type(value).__name__}")
    return False


def string_list(container: YamlMap, key: str, path: Path, log: IssueLog, *, required: bool = True) -> tuple[str, ...]:
    """The list of strings under `key`, logging a missing key or non-string items."""
    value = container.get(key)
    if value is None:
        if required:
            log.add(path, container.line, f"missing '{key}'")
        return ()
    if not expect(value, list, path, container.line_of(key), f"'{key}'", log):
        return ()
    items: list[str] = []
    for index, item in enumerate(value):
        line = value.line_of(index) if isinstance(value, YamlList) else container.line_of(key)
        if expect(item, str, path, line, f"item of '{key}'", log):
            items.append(item)
    return tuple(items)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))
