"""YAML rule files with line numbers, and an issue log that reports every problem at once.

`load_yaml` keeps the line of every mapping, key and list item, so a loader that validates
the plain data can name `path:line` in each error (as pySigma does) and raise them together.
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


def load_yaml(path: Path, log: IssueLog) -> Any:
    """Parse one YAML file into YamlMap/YamlList/scalars; a syntax error is logged, giving None."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        log.add(path, mark.line + 1 if mark else 0, f"YAML syntax error: {error.problem}")
        return None
    except OSError as error:
        log.add(path, 0, f"cannot read: {error.strerror}")
        return None
    return None if node is None else _convert(node, SafeConstructor())


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
