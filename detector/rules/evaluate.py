"""Evaluate rule conditions over a polars frame of account or cluster features.

A condition becomes one polars expression; a null or missing feature makes its predicate
false, so a rule never fires on evidence that is absent.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import reduce

import polars as pl

from detector.rules.schema import AllOf, AnyOf, Condition, DetectionRule, Predicate

_COMPARE: dict[str, Callable[[pl.Expr, float], pl.Expr]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
}

HIT_SCHEMA = {"entity_id": pl.String, "rule_id": pl.String}


def condition_expr(condition: Condition, columns: Iterable[str]) -> pl.Expr:
    """The boolean polars expression for `condition`; features absent from `columns` are false."""
    available = set(columns)
    if isinstance(condition, Predicate):
        if condition.feature not in available:
            return pl.repeat(False, pl.len())
        # polars orders NaN above every number; treat it as missing instead.
        column = pl.col(condition.feature).cast(pl.Float64).fill_nan(None)
        return _COMPARE[condition.op](column, condition.value).fill_null(False)
    parts = [condition_expr(p, available) for p in condition.parts]
    if isinstance(condition, AllOf):
        return reduce(operator.and_, parts)
    if isinstance(condition, AnyOf):
        return reduce(operator.or_, parts)
    raise TypeError(f"unknown condition {condition!r}")


def missing_features(rules: Sequence[DetectionRule], columns: Iterable[str]) -> dict[str, list[str]]:
    """Per rule id, the features it reads that the frame lacks (the rule cannot fully fire)."""
    available = set(columns)
    return {r.id: sorted(r.features() - available) for r in rules if r.features() - available}


def rule_hits(
    frame: pl.DataFrame, rules: Sequence[DetectionRule], *, id_column: str
) -> pl.DataFrame:
    """One row (entity_id, rule_id) per rule that fires on each row of `frame`."""
    if frame.is_empty() or not rules:
        return pl.DataFrame(schema=HIT_SCHEMA)
    flags = frame.select(
        pl.col(id_column).cast(pl.String).alias("entity_id"),
        *[condition_expr(r.condition, frame.columns).alias(r.id) for r in rules],
    )
    return (
        flags.unpivot(index="entity_id", variable_name="rule_id", value_name="hit")
        .filter(pl.col("hit"))
        .select("entity_id", "rule_id")
        .sort("entity_id", "rule_id")
    )


def fires(rule: DetectionRule, features: Mapping[str, float | None]) -> bool:
    """Whether `rule` fires on one row of features (used for fixtures and explanations)."""
    frame = pl.DataFrame({k: [v] for k, v in features.items()}, schema={k: pl.Float64 for k in features})
    return bool(frame.select(condition_expr(rule.condition, frame.columns)).item())
