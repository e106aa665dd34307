"""First scan and reach updates: the one-pass fill of empty totals and the rewritten all-time
rows equal a rebuild from every partial."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from feature_store import T0, add_requests

from detector import store
from detector.features import compute_features
from detector.features.accounts import _ACCOUNT_ROWS, _EVERY_ACCOUNT_ROWS, update_all_time
from detector.features.tables import FEATURE_TABLES
from detector.features.totals import TOTALS_TABLES, apply_new_days, rebuild_totals

DAY0 = date(2026, 3, 2)


def attribute_rows(seed: int) -> list[tuple[Any, ...]]:
    """Attribute rows of 40 accounts over five days; fingerprints shared by a few accounts."""
    rng = random.Random(seed)
    rows = []
    for offset in range(5):
        for account in range(40):
            if rng.random() < 0.25:
                continue
            for kind, values in (("ip", 9), ("hour", 24), ("template", 15), ("system_fp", 4), ("cot", 1)):
                for value in rng.sample(range(values), rng.randint(1, min(3, values))):
                    day = DAY0 + timedelta(days=offset)
                    rows.append((f"acct{account:02d}", day, kind, f"v{value}", rng.randint(1, 40)))
    return rows


def totals(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(con.execute(f"SELECT * FROM {table}").fetchall())
        for table in ("account_value_totals", "fingerprint_totals")
    }


def register_days(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE _dg_days (day DATE)")
    con.executemany("INSERT INTO _dg_days VALUES (?)", [[day] for day in days])


@pytest.fixture
def attributes() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(FEATURE_TABLES)
    con.execute(TOTALS_TABLES)
    con.executemany("INSERT INTO account_day_attributes VALUES (?, ?, ?, ?, ?)", attribute_rows(3))
    return con


def test_empty_totals_filled_in_one_pass_equal_a_rebuild(attributes: duckdb.DuckDBPyConnection) -> None:
    con = attributes
    days = [DAY0 + timedelta(days=offset) for offset in range(5)]
    register_days(con, days[:3])
    apply_new_days(con, days[0], days[2])
    queued = sorted(con.execute("SELECT kind, value FROM feature_dirty_fingerprints").fetchall())
    # every fingerprint gained its accounts: each is queued once
    assert queued == sorted(con.execute("SELECT kind, value FROM fingerprint_totals").fetchall())
    assert len(queued) == len(set(queued)) > 0
    # the later days merge into the filled totals (the merge path, not the insert)
    register_days(con, days[3:])
    apply_new_days(con, days[3], days[4])
    merged = totals(con)
    rebuild_totals(con)
    assert merged == totals(con)
    # the sums span the days: some value was seen on several days, first and last days differ
    assert max(row[4] for row in merged["account_value_totals"]) > 1
    assert any(row[4] < row[5] for row in merged["fingerprint_totals"])


def test_only_the_days_given_fill_the_empty_totals(attributes: duckdb.DuckDBPyConnection) -> None:
    con = attributes
    day = DAY0 + timedelta(days=1)
    register_days(con, [day])
    apply_new_days(con, day, day)
    expected = con.execute(
        "SELECT count(*), sum(requests) FROM account_day_attributes WHERE day = ?", [day]
    ).fetchall()
    assert con.execute("SELECT sum(days), sum(requests) FROM account_value_totals").fetchall() == expected
    assert con.execute(
        "SELECT count(*) FROM fingerprint_totals WHERE first_day <> ? OR last_day <> ?", [day, day]
    ).fetchall() == [(0,)]


def traffic(day: int, accounts: range, seed: int) -> list[dict[str, Any]]:
    """Requests of a day; three prompt templates each shared by a different set of accounts."""
    rng = random.Random(seed)
    templates = [
        "Summarize the quarterly report number {n} in five bullet points for the board.",
        "Translate the customer message {n} into formal German and keep the product names.",
        "Grade the student answer {n} against the rubric and explain every deduction.",
    ]
    rows = []
    for account in accounts:
        for _ in range(rng.randint(2, 6)):
            shared = [t for k, t in enumerate(templates) if account % (k + 2) == 0]
            prompt = (
                rng.choice(shared).format(n=rng.randint(0, 999))
                if shared
                else f"note {rng.random()} about {account}"
            )
            rows.append(
                {
                    "account_id": f"acct{account:02d}",
                    "timestamp": T0 + timedelta(days=day, minutes=rng.randint(0, 1439)),
                    "prompt": prompt,
                    "system_prompt": "You are a grader." if account % 3 == 0 else None,
                    "client_ip": f"203.0.113.{account % 17}",
                }
            )
    return rows


def base_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return sorted(con.execute("SELECT * FROM account_features_base").fetchall())


@pytest.mark.usefixtures("plain_labels")
def test_every_account_rows_equal_the_rows_of_queued_accounts(tmp_path: Path) -> None:
    con = store.connect(tmp_path / "every.duckdb")
    add_requests(con, traffic(0, range(30), seed=1) + traffic(1, range(10, 40), seed=2))
    compute_features(con)
    con.execute("CREATE TEMP TABLE _dg_own AS SELECT DISTINCT account_id FROM account_daily_features")
    params = {"rare_share": 0.05, "population": 40}
    queued = sorted(con.execute(_ACCOUNT_ROWS, params).fetchall())
    every = sorted(con.execute(_EVERY_ACCOUNT_ROWS, params).fetchall())
    assert queued == every
    assert len(every) == 40
    # and the first scan wrote them
    assert every == base_rows(con)


@pytest.mark.usefixtures("plain_labels")
def test_reach_rewrite_equals_a_rebuild_and_keeps_other_columns(tmp_path: Path) -> None:
    con = store.connect(tmp_path / "reach.duckdb")
    add_requests(con, traffic(0, range(24), seed=5))
    compute_features(con)
    before = {row[0]: row for row in base_rows(con)}
    # a new day of new accounts: the shared templates reach more accounts, so the sharing
    # columns of the old accounts move while their other columns stand
    add_requests(con, traffic(1, range(24, 48), seed=6))
    compute_features(con)
    incremental = base_rows(con)
    columns = [row[0] for row in con.execute("DESCRIBE account_features_base").fetchall()]
    sharing = {
        columns.index(name)
        for name in (
            "top_template_accounts", "shared_template_share", "shared_rare_template_share",
            "system_fp_max_accounts", "shared_system_fp_share", "shared_rare_system_fp_share",
        )
    }
    moved = 0
    for row in incremental:
        old = before.get(row[0])
        if old is None:
            continue
        assert [v for i, v in enumerate(row) if i not in sharing] == [
            v for i, v in enumerate(old) if i not in sharing
        ]
        moved += row != old
    assert moved > 0  # the reach update did change some old accounts
    with store.transaction(con):
        rebuild_totals(con)
        update_all_time(con)
    assert base_rows(con) == incremental
