"""A bad rule file is an error naming the file and line; every error is reported at once."""

import pytest

from detector.errors import DistillguardError
from detector.rules import AllOf, AnyOf, Predicate, RuleLoadError, load_rule_file, load_rules


def test_good_rule_loads_into_typed_objects(write_rule, good_rule):
    rule, errors = load_rule_file(write_rule("r.yaml", good_rule))
    assert errors == []
    assert rule is not None
    assert rule.level == "medium" and rule.scope == "account" and rule.signal == "cot"
    assert rule.condition == AllOf((
        Predicate("cot_share", "gte", 0.5),
        AnyOf((Predicate("requests", "gt", 10.0), Predicate("active_days", "gte", 3.0))),
    ))
    assert rule.features() == {"cot_share", "requests", "active_days"}
    # single fixture mappings are accepted as one-row lists
    assert rule.fixtures.positive == ({"cot_share": 0.8, "requests": 20.0, "active_days": 1.0},)


def test_each_error_names_its_line(write_rule, good_rule):
    text = good_rule.replace("level: medium", "level: severe").replace(
        "{feature: requests, op: gt, value: 10}", "{feature: requests, op: greater, value: ten}"
    )
    path = write_rule("bad.yaml", text)
    rule, errors = load_rule_file(path)
    assert rule is None
    lines = text.splitlines()
    by_message = {e.message.split()[0]: e for e in errors}
    level_line = next(i for i, t in enumerate(lines, 1) if t.startswith("level:"))
    cond_line = next(i for i, t in enumerate(lines, 1) if "op: greater" in t)
    assert any(e.line == level_line and "level" in e.message for e in errors)
    assert any(e.line == cond_line and "operator" in e.message for e in errors)
    assert any(e.line == cond_line and "must be a number" in e.message for e in errors)
    assert all(str(e).startswith(f"{path}:") for e in errors)
    assert by_message  # every error carries a message


def test_invalid_yaml_reports_the_line(write_rule):
    path = write_rule("broken.yaml", "id: x\ntitle: [unclosed\nlevel: low\n")
    _, errors = load_rule_file(path)
    assert len(errors) == 1
    assert errors[0].line in (2, 3)
    assert "invalid YAML" in errors[0].message


def test_directory_errors_are_all_reported_together(tmp_path, good_rule):
    (tmp_path / "a.yaml").write_text(good_rule.replace("status: test", "status: done"))
    (tmp_path / "b.yaml").write_text(good_rule.replace("signal: cot\n", ""))
    (tmp_path / "c.yaml").write_text(good_rule)
    (tmp_path / "d.yaml").write_text(good_rule)  # same id as c.yaml
    with pytest.raises(RuleLoadError) as caught:
        load_rules(tmp_path)
    err = caught.value
    assert isinstance(err, DistillguardError)  # the CLI turns it into exit code 3
    sources = {e.source.rsplit("/", 1)[-1] for e in err.errors}
    assert sources == {"a.yaml", "b.yaml", "d.yaml"}
    assert any("duplicate id" in e.message for e in err.errors)
    assert any("missing required field `signal`" in e.message for e in err.errors)
    assert "\n" not in str(err) and "a.yaml:4" in str(err)


def test_schema_violations(write_rule, good_rule):
    cases = {
        "id: not-a-uuid": "not a UUID",
        "tags: []": "`tags` must be a non-empty list",
        "scope: account": None,  # unchanged, valid
    }
    for replacement, expected in cases.items():
        key = replacement.split(":")[0]
        text = "\n".join(
            replacement if line.startswith(f"{key}:") else line for line in good_rule.splitlines()
        )
        _, errors = load_rule_file(write_rule(f"{key}.yaml", text))
        if expected is None:
            assert errors == []
        else:
            assert any(expected in e.message for e in errors), (replacement, errors)


def test_unknown_fields_and_fixtures_missing_features_are_errors(write_rule, good_rule):
    text = good_rule.replace("status: test", "status: test\nseverity: high").replace(
        "negative: {cot_share: 0.8, requests: 5, active_days: 1}", "negative: {cot_share: 0.8}"
    )
    _, errors = load_rule_file(write_rule("x.yaml", text))
    messages = " | ".join(e.message for e in errors)
    assert "unknown field `severity`" in messages
    assert "negative fixture lacks active_days, requests" in messages


def test_code_in_a_condition_is_rejected(write_rule, good_rule):
    text = good_rule.replace(
        "{feature: cot_share, op: gte, value: 0.5}", "{feature: \"__import__('os')\", op: gte, value: 0.5}"
    )
    _, errors = load_rule_file(write_rule("code.yaml", text))
    assert any("snake_case" in e.message for e in errors)
