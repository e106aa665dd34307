"""Campaign grouping reads the feature stage's running totals only when they equal the per-day
rows summed, and then gives exactly what grouping the day rows gives."""

from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from attribute_rows_store import attribute_store

from detector.campaigns.kits import KitParams, kit_frame, kit_groups
from detector.campaigns.membership import member_support
from detector.campaigns.value_sums import (
    account_values_sql,
    held_values_sql,
    population_sql,
    totals_match_day_rows,
    value_rows_sql,
)

KINDS = ("template", "system_fp", "user_agent", "ip", "prefix")
ACCOUNTS = [f"a{i:02d}" for i in range(40)]


def _day_rows(seed: int) -> list[tuple[str, date, str, str, int]]:
    """Attribute rows over five days: a group of accounts shares a kit and proxies, the rest
    draw from popular values; values repeat across days so sums span several rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(5):
        day = date(2026, 3, 1) + timedelta(days=d)
        for i, account in enumerate(ACCOUNTS):
            if rng.random() < 0.2:
                continue  # idle that day
            kit = i < 8
            for kind in KINDS:
                pool = 3 if kit else 12
                prefix = "kit" if kit else "pop"
                for _ in range(int(rng.integers(1, 3))):
                    value = f"{prefix}-{kind}-{int(rng.integers(pool))}"
                    rows.append((account, day, kind, value, int(rng.integers(1, 50))))
    # one row per (account, day, kind, value), as the feature stage writes them
    frame = pl.DataFrame(rows, schema=["account_id", "day", "kind", "value", "requests"], orient="row")
    frame = frame.group_by("account_id", "day", "kind", "value").agg(pl.col("requests").sum())
    return [tuple(r) for r in frame.sort(pl.all()).iter_rows()]


@pytest.fixture(params=[0, 1])
def con(request):
    con = attribute_store(_day_rows(request.param))
    con.execute(
        "CREATE TABLE account_features (account_id VARCHAR, requests BIGINT, cot_share DOUBLE,"
        " high_value_share DOUBLE, distinct_prefixes BIGINT, distinct_asns BIGINT)"
    )
    con.executemany(
        "INSERT INTO account_features VALUES (?, 100, 0.1, 0.2, 5, 3)", [[a] for a in ACCOUNTS]
    )
    con.execute("CREATE TABLE feature_unmerged_days (day DATE)")
    return con


def _sorted(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    frame = pl.from_arrow(con.sql(sql).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.sort(pl.all())


def test_totals_that_sum_the_day_rows_are_recognized(con):
    assert totals_match_day_rows(con)


def test_both_sources_give_the_same_sums(con):
    for build in (account_values_sql, held_values_sql):
        from_totals = _sorted(con, build(KINDS, from_totals=True))
        from_days = _sorted(con, build(KINDS, from_totals=False))
        assert from_totals.height > len(ACCOUNTS)  # something to compare
        assert from_totals.equals(from_days)
        assert from_totals.schema == from_days.schema
    summed = (
        "SELECT account_id, kind, value, sum(requests) AS n FROM ({}) GROUP BY ALL"
    )
    assert _sorted(con, summed.format(value_rows_sql(KINDS, from_totals=True))).equals(
        _sorted(con, summed.format(value_rows_sql(KINDS, from_totals=False)))
    )
    assert con.sql(population_sql(from_totals=True)).fetchall() == con.sql(
        population_sql(from_totals=False)
    ).fetchall()


@pytest.mark.parametrize(
    "drift",
    [
        "DELETE FROM account_value_totals WHERE rowid = 0",        # a value missing
        "UPDATE account_value_totals SET requests = requests + 1 WHERE rowid = 0",
        "INSERT INTO feature_unmerged_days VALUES (DATE '2026-03-06')",  # a day not merged yet
        "DROP TABLE account_value_totals",
    ],
)
def test_totals_that_drifted_are_not_used(con, drift):
    con.execute(drift)
    assert not totals_match_day_rows(con)


def _without_totals(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE account_value_totals RENAME TO stale_totals")
    assert not totals_match_day_rows(con)


def test_member_support_is_the_same_from_either_source(con):
    units = [("cluster:kit", ACCOUNTS[:10]), ("cluster:mixed", ACCOUNTS[5:25:2])]
    fast = member_support(con, units).sort("unit", "account_id")
    _without_totals(con)
    slow = member_support(con, units).sort("unit", "account_id")
    assert fast.get_column("affinity").max() > 0  # the kit members share characteristic values
    assert fast.equals(slow)


def test_kit_groups_and_features_are_the_same_from_either_source(con):
    params = KitParams(max_population_share=0.9)
    fast = kit_groups(con, ACCOUNTS, params)
    fast_frame = kit_frame(con, fast)
    _without_totals(con)
    slow = kit_groups(con, ACCOUNTS, params)
    assert not fast.is_empty()
    assert fast.equals(slow)
    assert fast_frame.equals(kit_frame(con, slow))
