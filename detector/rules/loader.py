"""Load detection rules from YAML into `DetectionRule` objects, reporting every error at once.

Each error names the file and line (`rules/detection/x.yaml:12: ...`); a directory with
several bad files yields one `RuleLoadError` that lists them all.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from detector.errors import DistillguardError
from detector.paths import rules_dir
from detector.rules.schema import (
    LEVELS,
    OPERATORS,
    SCOPES,
    SIGNALS,
    STATUSES,
    AllOf,
    AnyOf,
    Condition,
    DetectionRule,
    Fixtures,
    Level,
    Operator,
    Predicate,
    Scope,
    Signal,
    Status,
)
from detector.rules_yaml import LocatedDocument, Location, YamlSyntaxError, load_located

REQUIRED = ("id", "title", "description", "status", "level", "scope", "signal", "tags",
            "falsepositives", "condition", "fixtures")
OPTIONAL = ("references", "author", "date", "modified")
FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RuleError:
    """One problem in one rule file."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


class RuleLoadError(DistillguardError):
    """One or more rule files are invalid; `errors` lists every problem found."""

    def __init__(self, errors: Iterable[RuleError]) -> None:
        self.errors = tuple(errors)
        count = len(self.errors)
        super().__init__(f"{count} rule error{'s' if count != 1 else ''}: "
                         + "; ".join(str(e) for e in self.errors))


class _Collector:
    """Accumulates errors for one document, each at the line of the value it concerns."""

    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc
        self.errors: list[RuleError] = []

    def error(self, path: Location, message: str) -> None:
        self.errors.append(RuleError(self.doc.source, self.doc.line_of(path), message))


def _text(c: _Collector, data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        c.error((key,), f"`{key}` must be a non-empty string")
        return ""
    return value.strip()


def _choice(c: _Collector, data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = data.get(key)
    if value not in allowed:
        c.error((key,), f"`{key}` is {value!r}; expected one of {', '.join(allowed)}")
        return allowed[0]
    return cast(str, value)


def _strings(c: _Collector, data: dict[str, Any], key: str, *, required: bool) -> tuple[str, ...]:
    value = data.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not value or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        c.error((key,), f"`{key}` must be a non-empty list of strings")
        return ()
    return tuple(v.strip() for v in value)


def _condition(c: _Collector, node: Any, path: Location) -> Condition | None:
    if not isinstance(node, dict):
        c.error(path, "a condition must be a mapping: `all`, `any` or {feature, op, value}")
        return None
    if set(node) in ({"all"}, {"any"}):
        key = next(iter(node))
        items = node[key]
        if not isinstance(items, list) or not items:
            c.error((*path, key), f"`{key}` must be a non-empty list of conditions")
            return None
        parts = [_condition(c, item, (*path, key, i)) for i, item in enumerate(items)]
        if any(p is None for p in parts):
            return None
        typed = tuple(cast(list[Condition], parts))
        return AllOf(typed) if key == "all" else AnyOf(typed)
    if set(node) != {"feature", "op", "value"}:
        c.error(path, f"condition keys {sorted(node)}; expected `all`, `any` or feature/op/value")
        return None
    feature, op, value = node["feature"], node["op"], node["value"]
    ok = True
    if not isinstance(feature, str) or not FEATURE_NAME.match(feature):
        c.error((*path, "feature"), f"feature {feature!r} is not a snake_case column name")
        ok = False
    if op not in OPERATORS:
        c.error((*path, "op"), f"operator {op!r}; expected one of {', '.join(OPERATORS)}")
        ok = False
    if isinstance(value, bool) or not isinstance(value, int | float):
        c.error((*path, "value"), f"value {value!r} must be a number")
        ok = False
    return Predicate(feature, cast(Operator, op), float(value)) if ok else None


def _fixture_rows(c: _Collector, node: Any, path: Location) -> tuple[dict[str, float | None], ...]:
    rows = node if isinstance(node, list) else [node]
    result: list[dict[str, float | None]] = []
    for i, row in enumerate(rows):
        where = (*path, i) if isinstance(node, list) else path
        if not isinstance(row, dict) or not row:
            c.error(where, "a fixture must be a non-empty mapping of feature to number")
            continue
        bad = [k for k, v in row.items()
               if not isinstance(k, str) or isinstance(v, bool)
               or not (v is None or isinstance(v, int | float))]
        if bad:
            c.error(where, f"fixture values must be numbers or null: {', '.join(map(str, bad))}")
            continue
        result.append({k: (None if v is None else float(v)) for k, v in row.items()})
    return tuple(result)


def _fixtures(c: _Collector, node: Any) -> Fixtures:
    if not isinstance(node, dict) or "positive" not in node or "negative" not in node:
        c.error(("fixtures",), "`fixtures` needs both `positive` and `negative`")
        return Fixtures((), ())
    return Fixtures(
        positive=_fixture_rows(c, node["positive"], ("fixtures", "positive")),
        negative=_fixture_rows(c, node["negative"], ("fixtures", "negative")),
    )


def parse_rule(doc: LocatedDocument) -> tuple[DetectionRule | None, list[RuleError]]:
    """Validate one parsed document; return the rule (when valid) and every error found."""
    c = _Collector(doc)
    data = doc.value
    if not isinstance(data, dict):
        c.error((), "a rule file must hold one mapping")
        return None, c.errors
    for key in REQUIRED:
        if key not in data:
            c.error((), f"missing required field `{key}`")
    for key in data:
        if key not in REQUIRED and key not in OPTIONAL:
            c.error((key,), f"unknown field `{key}`")
    rule_id = _text(c, data, "id")
    if rule_id:
        try:
            uuid.UUID(rule_id)
        except ValueError:
            c.error(("id",), f"id {rule_id!r} is not a UUID")
    title = _text(c, data, "title")
    description = _text(c, data, "description")
    status = _choice(c, data, "status", STATUSES)
    level = _choice(c, data, "level", LEVELS)
    scope = _choice(c, data, "scope", SCOPES)
    signal = _choice(c, data, "signal", SIGNALS)
    tags = _strings(c, data, "tags", required=True)
    falsepositives = _strings(c, data, "falsepositives", required=True)
    references = _strings(c, data, "references", required=False)
    condition = _condition(c, data.get("condition"), ("condition",)) if "condition" in data else None
    fixtures = _fixtures(c, data.get("fixtures"))
    if condition is not None:
        for kind, rows in (("positive", fixtures.positive), ("negative", fixtures.negative)):
            for i, row in enumerate(rows):
                missing = sorted(condition.features() - row.keys())
                if missing:
                    c.error(("fixtures", kind, i), f"{kind} fixture lacks {', '.join(missing)}")
    author, date = data.get("author"), data.get("date")
    if c.errors or condition is None:
        return None, c.errors
    rule = DetectionRule(
        id=rule_id,
        title=title,
        description=description,
        status=cast(Status, status),
        level=cast(Level, level),
        scope=cast(Scope, scope),
        signal=cast(Signal, signal),
        condition=condition,
        tags=tags,
        falsepositives=falsepositives,
        references=references,
        fixtures=fixtures,
        author=str(author) if author is not None else None,
        date=str(date) if date is not None else None,
        source=doc.source,
    )
    return rule, []


def load_rule_file(path: Path) -> tuple[DetectionRule | None, list[RuleError]]:
    """Parse and validate one rule file."""
    try:
        doc = load_located(path)
    except YamlSyntaxError as exc:
        return None, [RuleError(str(path), exc.line, f"invalid YAML: {exc}")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RuleError(str(path), 1, f"unreadable: {exc}")]
    return parse_rule(doc)


def load_rules(directory: Path | None = None) -> tuple[DetectionRule, ...]:
    """Every rule under `directory` (default `rules/detection/`), sorted by id.

    Raises `RuleLoadError` listing every error of every file, including duplicate ids.
    """
    folder = directory if directory is not None else rules_dir() / "detection"
    if not folder.is_dir():
        raise RuleLoadError([RuleError(str(folder), 0, "rule directory not found")])
    rules: list[DetectionRule] = []
    errors: list[RuleError] = []
    seen: dict[str, str] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        rule, problems = load_rule_file(path)
        errors.extend(problems)
        if rule is None:
            continue
        if rule.id in seen:
            doc_line = 1
            errors.append(RuleError(str(path), doc_line, f"duplicate id {rule.id} (also in {seen[rule.id]})"))
            continue
        seen[rule.id] = str(path)
        rules.append(rule)
    if errors:
        raise RuleLoadError(errors)
    return tuple(sorted(rules, key=lambda r: r.id))
