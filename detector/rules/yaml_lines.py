"""YAML parsing that remembers where each value came from, so rule errors can name `file:line`.

A small loader of our own (the shared `detector/rules_yaml.py` did not exist when this was
written): it composes the PyYAML node tree with the safe loader and converts it to plain
Python values, recording the 1-based line of every mapping key and sequence item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


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


class YamlSyntaxError(ValueError):
    """The file is not valid YAML; carries the line of the problem."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def _to_python(node: yaml.Node, path: Location, lines: dict[Location, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            child = (*path, key if isinstance(key, str | int) else str(key))
            result[key] = _to_python(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # Resolve the scalar with the safe constructor so ints, floats, bools and nulls are typed.
    return yaml.SafeLoader(yaml.serialize(node)).get_single_data()


def load_located(path: Path) -> LocatedDocument:
    """Parse one YAML file into values and line numbers; raise `YamlSyntaxError` when invalid."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(str(exc.problem or exc), line) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), 1) from exc
    lines: dict[Location, int] = {}
    value = _to_python(node, (), lines) if node is not None else None
    return LocatedDocument(source=str(path), value=value, lines=lines)
