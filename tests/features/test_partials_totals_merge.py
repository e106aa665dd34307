"""Merging new days into the running totals, into empty totals or not, equals a rebuild."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import duckdb
import pytest

from detector.features.tables import FEATURE_TABLES
from detector.features.totals import TOTALS_TABLES, apply_new_days, rebuild_totals

DAY0 = date(2026, 3, 2)


def attribute_rows(seed: int) -> list[tuple[Any, ...]]:
    """Attribute rows of 30 accounts over six days; templates shared by a few accounts."""
    rng = random.Random(seed)
    rows = []
    for offset in range(6):
        for account in range(30):
            if rng.random() < 0.3:
                continue  # the account is idle that day
            for kind, values in (("ip", 8), ("hour", 24), ("template", 12), ("system_fp", 3)):
                for value in rng.sample(range(values), rng.randint(1, 3)):
                    rows.append(
                        (f"acct{account}", DAY0 + timedelta(days=offset), kind, f"v{value}", rng.randint(1, 50))
                    )
    return rows


def totals(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(con.execute(f"SELECT * FROM {table}").fetchall())
        for table in ("account_value_totals", "fingerprint_totals")
    }


@pytest.mark.parametrize("chunks", [[6], [1, 1, 1, 1, 1, 1], [2, 3, 1], [1, 5]])
def test_new_days_merged_in_any_chunks_equal_a_rebuild(chunks: list[int]) -> None:
    con = duckdb.connect()
    con.execute(FEATURE_TABLES)
    con.execute(TOTALS_TABLES)
    con.executemany("INSERT INTO account_day_attributes VALUES (?, ?, ?, ?, ?)", attribute_rows(7))
    start = 0
    reach_moved = 0
    for size in chunks:
        days = [DAY0 + timedelta(days=offset) for offset in range(start, start + size)]
        con.execute("CREATE OR REPLACE TEMP TABLE _dg_days (day DATE)")
        con.executemany("INSERT INTO _dg_days VALUES (?)", [[day] for day in days])
        apply_new_days(con, days[0], days[-1])
        reach_moved += con.execute("SELECT count(*) FROM feature_dirty_fingerprints").fetchall()[0][0]
        con.execute("DELETE FROM feature_dirty_fingerprints")
        start += size
    merged = totals(con)
    rebuild_totals(con)
    assert merged == totals(con)
    # every fingerprint gained its accounts through the merges: each was queued at least once
    assert reach_moved >= len(merged["fingerprint_totals"]) > 0
    # the days counted are the days with a row, summed over the chunks
    days = con.execute(
        "SELECT max(days) FROM account_value_totals WHERE kind = 'hour'"
    ).fetchall()[0][0]
    assert 1 < days <= 6
