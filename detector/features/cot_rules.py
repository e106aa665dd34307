"""Chain-of-thought elicitation rules: YAML files in `rules/cot/` loaded into frozen dataclasses."""

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

RULE_KEYS = frozenset({"id", "title", "description", "weight", "patterns", "positive", "negative"})


@dataclass(frozen=True)
class CotRule:
    """One elicitation pattern family: any of `patterns` firing on the lowercased text adds `weight`."""

    id: str
    title: str
    description: str
    weight: float
    patterns: tuple[str, ...]
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    location: str

    @property
    def regex(self) -> str:
        """All patterns as one alternation for polars' Rust regex engine, run on lowercased text."""
        return lowercase_regex(self.patterns)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "title": self.title, "description": self.description, "weight": self.weight,
            "patterns": list(self.patterns), "positive": list(self.positive), "negative": list(self.negative),
        }


def default_cot_dir() -> Path:
    return rules_dir() / "cot"


def load_cot_rules(directory: Path | None = None) -> tuple[CotRule, ...]:
    """Every rule in `directory/*.yaml` (default `rules/cot/`); all problems raised together."""
    return _load_cached(directory or default_cot_dir())


@lru_cache(maxsize=8)
def _load_cached(directory: Path) -> tuple[CotRule, ...]:
    log = IssueLog()
    rules: list[CotRule] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        log.add(directory, 0, "no *.yaml CoT rule files")
    for path in files:
        rules.extend(_parse_file(path, log))
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.id in seen:
            file, _, line = rule.location.rpartition(":")
            log.add(Path(file), int(line), f"duplicate rule id '{rule.id}' (first at {seen[rule.id]})")
        seen.setdefault(rule.id, rule.location)
    log.raise_if_any()
    return tuple(rules)


def _parse_file(path: Path, log: IssueLog) -> list[CotRule]:
    document = load_yaml(path, log)
    if document is None:
        return []
    if not isinstance(document, YamlMap) or not isinstance(document.get("rules"), YamlList):
        log.add(path, getattr(document, "line", 1), "expected a mapping with a 'rules' list")
        return []
    rules = []
    for entry in document["rules"]:
        if not expect(entry, dict, path, document["rules"].line, "a rule", log):
            continue
        rule = _parse_rule(entry, path, log)
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_rule(entry: YamlMap, path: Path, log: IssueLog) -> CotRule | None:
    issues_before = len(log.issues)
    for key in sorted(set(entry) - RULE_KEYS):
        log.add(path, entry.line_of(key), f"unknown key '{key}'")
    texts = {}
    for key in ("id", "title", "description"):
        value = entry.get(key)
        if value is None:
            log.add(path, entry.line, f"missing '{key}'")
        elif expect(value, str, path, entry.line_of(key), f"'{key}'", log):
            texts[key] = value.strip()
    weight = entry.get("weight")
    if weight is None:
        log.add(path, entry.line, "missing 'weight'")
    elif expect(weight, (int, float), path, entry.line_of("weight"), "'weight'", log) and not 0 < weight <= 1:
        log.add(path, entry.line_of("weight"), f"'weight' must be in (0, 1], got {weight}")
    patterns = string_list(entry, "patterns", path, log)
    for index, pattern in enumerate(patterns):
        error = rust_regex_error(lowercase_regex([pattern]))
        if error is not None:
            log.add(path, entry["patterns"].line_of(index), f"pattern rejected by the Rust regex engine: {error}")
        elif uppercase_literal(pattern):
            log.add(path, entry["patterns"].line_of(index), "pattern has uppercase letters; text is lowercased before matching")
    positive = string_list(entry, "positive", path, log)
    negative = string_list(entry, "negative", path, log)
    if not positive or not negative:
        log.add(path, entry.line, "a rule needs at least one positive and one negative fixture")
    if len(log.issues) > issues_before or weight is None:
        return None
    return CotRule(
        id=texts["id"], title=texts["title"], description=texts["description"], weight=float(weight),
        patterns=patterns, positive=positive, negative=negative, location=f"{path}:{entry.line}",
    )
