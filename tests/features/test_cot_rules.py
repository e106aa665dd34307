"""The CoT rule corpus: every rule against its fixtures, and the loader's error reporting."""

from pathlib import Path

import polars as pl
import pytest

from detector.features.cot_rules import load_cot_rules
from detector.rules_yaml import (
    IssueLog,
    RuleFileError,
    YamlList,
    YamlMap,
    ascii_classes,
    load_yaml,
    lowercase_regex,
    uppercase_literal,
)

FIXTURES = Path(__file__).parent / "fixtures"
REQUIRED_FAMILIES = {
    "cot-full-reasoning", "cot-hidden-reasoning", "cot-every-step", "cot-casual-step-by-step",
    "cot-reasoning-tags", "cot-reconstruct-reasoning", "cot-training-format", "cot-rubric-grading",
    "cot-student-model",
}


def test_every_cot_rule_fires_on_its_positives_and_not_on_its_negatives() -> None:
    failures = []
    for rule in load_cot_rules():
        positives = pl.Series(rule.positive, dtype=pl.String).str.to_lowercase().str.contains(rule.regex)
        negatives = pl.Series(rule.negative, dtype=pl.String).str.to_lowercase().str.contains(rule.regex)
        failures += [f"{rule.id} misses positive {t!r}" for t, hit in zip(rule.positive, positives, strict=True) if not hit]
        failures += [f"{rule.id} fires on negative {t!r}" for t, hit in zip(rule.negative, negatives, strict=True) if hit]
    assert failures == []


def test_every_pattern_of_a_rule_is_exercised_by_a_positive() -> None:
    unused = [
        f"{rule.id}: {pattern}"
        for rule in load_cot_rules()
        for pattern in rule.patterns
        if not pl.Series(rule.positive, dtype=pl.String).str.to_lowercase().str.contains(lowercase_regex([pattern])).any()
    ]
    assert unused == []


def test_the_issue_families_are_all_present_with_sane_weights() -> None:
    rules = {rule.id: rule for rule in load_cot_rules()}
    assert set(rules) >= REQUIRED_FAMILIES
    assert rules["cot-casual-step-by-step"].weight < 0.3
    assert all(0 < rule.weight <= 1 for rule in rules.values())


def test_loader_reports_every_problem_with_file_and_line() -> None:
    with pytest.raises(RuleFileError) as caught:
        load_cot_rules(FIXTURES / "cot_invalid")
    messages = [str(issue) for issue in caught.value.issues]
    broken = FIXTURES / "cot_invalid" / "broken_rules.yaml"
    duplicate = FIXTURES / "cot_invalid" / "duplicate.yaml"
    assert f"{broken}:6: 'weight' must be in (0, 1], got 1.5" in messages
    assert any(m.startswith(f"{broken}:16: pattern rejected") and "look-around" in m for m in messages)
    assert f"{broken}:23: unknown key 'severity'" in messages
    assert f"{broken}:19: missing 'negative'" in messages
    assert any(m.startswith(f"{duplicate}:9: duplicate rule id 'cot-twice'") for m in messages)


def test_yaml_helper_keeps_lines_of_keys_and_items(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("# c\nrules:\n  - id: a\n    weight: 0.5\n  - id: b\n", encoding="utf-8")
    document = load_yaml(path, IssueLog())
    assert isinstance(document, YamlMap)
    rules = document["rules"]
    assert isinstance(rules, YamlList)
    assert document.line_of("rules") == 2
    assert rules.item_lines == [3, 5]
    assert rules[0].line_of("weight") == 4


def test_yaml_syntax_error_is_logged_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - id: a\n   weight: [1, 2\n", encoding="utf-8")
    log = IssueLog()
    assert load_yaml(path, log) is None
    assert len(log.issues) == 1
    assert log.issues[0].path == path and log.issues[0].line >= 3


def test_patterns_compile_with_ascii_classes_for_the_fast_engine() -> None:
    assert ascii_classes(r"\bstep\s+\d\B") == r"(?-u:\b)step(?-u:\s)+(?-u:\d)(?-u:\B)"
    assert ascii_classes(r"a\\b") == r"a\\b"  # an escaped backslash followed by b is literal
    assert lowercase_regex(["a", r"\bb"]) == r"(?:a)|(?:(?-u:\b)b)"


def test_uppercase_letters_outside_escapes_are_flagged() -> None:
    assert uppercase_literal(r"\[\[[AB]\]\]")
    assert not uppercase_literal(r"\B\S+\D\p{Han}\P{L}")
