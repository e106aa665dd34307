"""Condition semantics over polars frames: nulls, NaN and absent features never fire."""

import math

import polars as pl

from detector.rules import AllOf, AnyOf, Predicate, condition_expr, missing_features, rule_hits
from detector.rules.loader import load_rule_file


def evaluate(condition, frame):
    return frame.select(condition_expr(condition, frame.columns).alias("hit"))["hit"].to_list()


def test_operators():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    assert evaluate(Predicate("x", "gt", 2), frame) == [False, False, True]
    assert evaluate(Predicate("x", "gte", 2), frame) == [False, True, True]
    assert evaluate(Predicate("x", "lt", 2), frame) == [True, False, False]
    assert evaluate(Predicate("x", "lte", 2), frame) == [True, True, False]
    assert evaluate(Predicate("x", "eq", 2), frame) == [False, True, False]
    assert evaluate(Predicate("x", "ne", 2), frame) == [True, False, True]


def test_null_nan_and_missing_features_are_false():
    frame = pl.DataFrame({"x": [None, math.nan, 5.0]}, schema={"x": pl.Float64})
    assert evaluate(Predicate("x", "gte", 0), frame) == [False, False, True]
    assert evaluate(Predicate("x", "lt", 100), frame) == [False, False, True]
    assert evaluate(Predicate("absent", "lt", 1), frame) == [False, False, False]


def test_all_and_any_combine():
    frame = pl.DataFrame({"a": [1, 1, 0, 0], "b": [1, 0, 1, 0]})
    both = AllOf((Predicate("a", "eq", 1), Predicate("b", "eq", 1)))
    either = AnyOf((Predicate("a", "eq", 1), Predicate("b", "eq", 1)))
    assert evaluate(both, frame) == [True, False, False, False]
    assert evaluate(either, frame) == [True, True, True, False]


def test_rule_hits_lists_each_firing_pair(tmp_path, good_rule):
    path = tmp_path / "r.yaml"
    path.write_text(good_rule)
    rule, _ = load_rule_file(path)
    assert rule is not None
    frame = pl.DataFrame({
        "account_id": ["a", "b", "c"],
        "cot_share": [0.9, 0.9, 0.1],
        "requests": [50, 2, 50],
        "active_days": [1, 5, 9],
    })
    hits = rule_hits(frame, [rule], id_column="account_id")
    assert hits.rows() == [("a", rule.id), ("b", rule.id)]
    assert missing_features([rule], ["account_id", "cot_share"]) == {rule.id: ["active_days", "requests"]}
    assert rule_hits(frame.head(0), [rule], id_column="account_id").height == 0
