"""The capability taxonomy: its shape, every rule against its fixtures, and loader errors."""

from pathlib import Path

import polars as pl
import pytest

from detector.features.capability import classify_requests
from detector.features.capability_taxonomy import REQUIRED_CAPABILITIES, load_taxonomy
from detector.rules_yaml import RuleFileError

FIXTURES = Path(__file__).parent / "fixtures"
HIGH_VALUE = {"agentic_coding", "tool_use", "math_reasoning", "data_analysis", "computer_use_vision", "sensitive_rewriting"}


def test_taxonomy_has_the_required_capabilities_and_high_value_flags() -> None:
    taxonomy = load_taxonomy()
    assert set(REQUIRED_CAPABILITIES) <= set(taxonomy.names)
    assert set(taxonomy.high_value) == HIGH_VALUE
    assert all(c.description and c.rules for c in taxonomy.capabilities if c.name != "other")


def test_every_capability_rule_matches_one_of_its_positive_fixtures() -> None:
    unmatched = [
        f"{capability.name} rule at line {rule.line}"
        for capability in load_taxonomy().capabilities
        for rule in capability.rules
        if not pl.Series(capability.positive, dtype=pl.String).str.to_lowercase().str.contains(rule.regex).any()
    ]
    assert unmatched == []


def test_classifier_labels_every_positive_fixture_and_no_negative_one() -> None:
    cases = [
        (capability.name, expected, text)
        for capability in load_taxonomy().capabilities
        for expected, texts in ((True, capability.positive), (False, capability.negative))
        for text in texts
    ]
    frame = pl.DataFrame(
        {"request_id": [str(i) for i in range(len(cases))], "prompt": [c[2] for c in cases],
         "system_prompt": [None] * len(cases), "tools": [None] * len(cases)},
        schema={"request_id": pl.String, "prompt": pl.String, "system_prompt": pl.String, "tools": pl.String},
    )
    labels = classify_requests(frame).get_column("capability").to_list()
    failures = [
        f"{name}: {'missed' if expected else 'wrongly given to'} {text!r} (got {label})"
        for (name, expected, text), label in zip(cases, labels, strict=True)
        if (label == name) != expected
    ]
    assert failures == []


def test_taxonomy_loader_reports_all_problems_with_lines() -> None:
    path = FIXTURES / "capabilities_invalid" / "capabilities.yaml"
    with pytest.raises(RuleFileError) as caught:
        load_taxonomy(path)
    messages = [str(issue) for issue in caught.value.issues]
    assert f"{path}:6: 'high_value' must be bool, got str" in messages
    assert any(m.startswith(f"{path}:9: pattern rejected") and "look-around" in m for m in messages)
    assert f"{path}:4: missing required capability 'tool_use'" in messages
    assert not any("'agentic_coding'" in m for m in messages)
