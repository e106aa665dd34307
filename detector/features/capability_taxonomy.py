"""The capability taxonomy of `rules/capabilities.yaml`, loaded into frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from detector.paths import rules_dir
from detector.rules_yaml import (
    IssueLog,
    YamlList,
    YamlMap,
    expect,
    load_yaml,
    lowercase_regex,
    rust_regex_error,
    string_list,
    uppercase_literal,
)

CAPABILITY_KEYS = frozenset({"name", "description", "high_value", "tools", "rules", "positive", "negative"})
REQUIRED_CAPABILITIES = (
    "agentic_coding", "tool_use", "math_reasoning", "data_analysis", "computer_use_vision",
    "writing", "translation", "chitchat_advice", "sensitive_rewriting", "other",
)


@dataclass(frozen=True)
class EvidenceRule:
    """Patterns that, if any matches the lowercased text, add `weight` of evidence for a capability."""

    weight: float
    patterns: tuple[str, ...]
    line: int

    @property
    def regex(self) -> str:
        return lowercase_regex(self.patterns)


@dataclass(frozen=True)
class Capability:
    """One label of the taxonomy with its rules, tool-name evidence and fixtures."""

    name: str
    description: str
    high_value: bool
    rules: tuple[EvidenceRule, ...]
    tool_pattern: str | None
    tool_weight: float
    positive: tuple[str, ...]
    negative: tuple[str, ...]

    @property
    def tool_regex(self) -> str | None:
        return None if self.tool_pattern is None else lowercase_regex([self.tool_pattern])


@dataclass(frozen=True)
class Taxonomy:
    """All capabilities in file order; `names` fixes the column order of every output."""

    capabilities: tuple[Capability, ...]
    path: Path

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.capabilities)

    @property
    def high_value(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.capabilities if c.high_value)


def default_taxonomy_path() -> Path:
    return rules_dir() / "capabilities.yaml"


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Parse and validate the taxonomy; every problem is reported at once with `path:line`."""
    return _load_cached(path or default_taxonomy_path())


@lru_cache(maxsize=8)
def _load_cached(path: Path) -> Taxonomy:
    log = IssueLog()
    document = load_yaml(path, log)
    capabilities: list[Capability] = []
    if document is not None:
        entries = document.get("capabilities") if isinstance(document, YamlMap) else None
        if not isinstance(entries, YamlList):
            log.add(path, getattr(document, "line", 1), "expected a mapping with a 'capabilities' list")
        else:
            for index, entry in enumerate(entries):
                if expect(entry, dict, path, entries.line_of(index), "a capability", log):
                    capability = _parse_capability(entry, path, log)
                    if capability is not None:
                        capabilities.append(capability)
            declared = [entry.get("name") for entry in entries if isinstance(entry, dict)]
            for name in sorted({str(n) for n in declared if declared.count(n) > 1}):
                log.add(path, entries.line, f"duplicate capability '{name}'")
            for name in REQUIRED_CAPABILITIES:
                if name not in declared:
                    log.add(path, entries.line, f"missing required capability '{name}'")
    log.raise_if_any()
    return Taxonomy(tuple(capabilities), path)


def _parse_capability(entry: YamlMap, path: Path, log: IssueLog) -> Capability | None:
    before = len(log.issues)
    for key in sorted(set(entry) - CAPABILITY_KEYS):
        log.add(path, entry.line_of(key), f"unknown key '{key}'")
    name, description, high_value = entry.get("name"), entry.get("description"), entry.get("high_value")
    for key, value, kind in (("name", name, str), ("description", description, str), ("high_value", high_value, bool)):
        if value is None:
            log.add(path, entry.line, f"missing '{key}'")
        else:
            expect(value, kind, path, entry.line_of(key), f"'{key}'", log)
    rules = _parse_rules(entry, path, log)
    tool_pattern, tool_weight = _parse_tools(entry, path, log)
    positive = string_list(entry, "positive", path, log)
    negative = string_list(entry, "negative", path, log)
    if not positive or not negative:
        log.add(path, entry.line, "a capability needs positive and negative fixtures")
    if len(log.issues) > before:
        return None
    return Capability(
        name=str(name), description=str(description).strip(), high_value=bool(high_value), rules=rules,
        tool_pattern=tool_pattern, tool_weight=tool_weight, positive=positive, negative=negative,
    )


def _weight(container: YamlMap, path: Path, log: IssueLog) -> float:
    value = container.get("weight")
    if value is None:
        log.add(path, container.line, "missing 'weight'")
    elif expect(value, (int, float), path, container.line_of("weight"), "'weight'", log):
        if 0 < value <= 1:
            return float(value)
        log.add(path, container.line_of("weight"), f"'weight' must be in (0, 1], got {value}")
    return 0.0


def _check_pattern(pattern: str, path: Path, line: int, log: IssueLog) -> None:
    error = rust_regex_error(lowercase_regex([pattern]))
    if error is not None:
        log.add(path, line, f"pattern rejected by the Rust regex engine: {error}")
    elif uppercase_literal(pattern):
        log.add(path, line, "pattern has uppercase letters; text is lowercased before matching")


def _parse_rules(entry: YamlMap, path: Path, log: IssueLog) -> tuple[EvidenceRule, ...]:
    raw = entry.get("rules", YamlList())
    if not expect(raw, list, path, entry.line_of("rules"), "'rules'", log):
        return ()
    rules = []
    for index, rule in enumerate(raw):
        line = raw.line_of(index) if isinstance(raw, YamlList) else entry.line
        if not expect(rule, dict, path, line, "a rule", log):
            continue
        for key in sorted(set(rule) - {"weight", "patterns"}):
            log.add(path, rule.line_of(key), f"unknown key '{key}'")
        weight = _weight(rule, path, log)
        patterns = string_list(rule, "patterns", path, log)
        for i, pattern in enumerate(patterns):
            _check_pattern(pattern, path, rule["patterns"].line_of(i), log)
        rules.append(EvidenceRule(weight, patterns, rule.line))
    return tuple(rules)


def _parse_tools(entry: YamlMap, path: Path, log: IssueLog) -> tuple[str | None, float]:
    tools = entry.get("tools")
    if tools is None:
        return None, 0.0
    if not expect(tools, dict, path, entry.line_of("tools"), "'tools'", log):
        return None, 0.0
    pattern = tools.get("pattern")
    if not expect(pattern, str, path, tools.line_of("pattern"), "'tools.pattern'", log):
        return None, 0.0
    _check_pattern(pattern, path, tools.line_of("pattern"), log)
    return pattern, _weight(tools, path, log)
