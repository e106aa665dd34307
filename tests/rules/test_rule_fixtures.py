"""Every bundled rule fires on its positive fixtures and stays silent on its negative ones."""

import pytest

from detector.rules import fires, load_rules

RULES = load_rules()


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.scope}:{r.title}" for r in RULES])
def test_rule_fires_on_positive_and_not_on_negative_fixtures(rule):
    for row in rule.fixtures.positive:
        assert fires(rule, row), f"{rule.source}: silent on positive fixture {row}"
    for row in rule.fixtures.negative:
        assert not fires(rule, row), f"{rule.source}: fires on negative fixture {row}"


def test_fixtures_of_one_rule_do_not_trip_every_other_rule():
    # A rule whose negative fixture is silent only because a feature is missing would be
    # useless; check each negative fixture reads every feature of its own rule.
    for rule in RULES:
        for row in rule.fixtures.negative:
            assert rule.features() <= row.keys()
