"""Running totals: updating the all-time tables day by day equals rebuilding them from every partial."""

from __future__ import annotations

import random
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from feature_store import T0, add_requests

from detector import store
from detector.features import compute_features, pipeline
from detector.features.accounts import rebuild_all_time
from detector.features.capability_taxonomy import load_taxonomy
from detector.features.distinct import DistinctTexts
from detector.features.pipeline import FeatureConfig
from detector.store import transaction

# A high share so that the population growth of the fixture moves the rare-share threshold
# (greatest(2, 0.1 * accounts): 2 with 15 accounts, 6 with 60) across the reach of templates.
CONFIG = FeatureConfig(rare_template_share=0.1)
TABLES = {
    "request_features": "request_id",
    "account_daily_features": "account_id, day",
    "account_day_attributes": "account_id, day, kind, value",
    "key_daily_features": "account_id, day, api_key_id",
    "account_features": "account_id",
    "key_features": "api_key_id",
    "org_features": "org_id",
    "template_features": "kind, template_fp",
}


@pytest.fixture
def hashed_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Capability and CoT labels from a hash of the prompt: varied, cheap, and the same in every store."""
    names = list(load_taxonomy().names)

    def labels(frame: pl.DataFrame, prompts: DistinctTexts, *texts: object) -> pl.DataFrame:
        rows = prompts.values.gather(prompts.index).to_list()
        keys = [zlib.crc32((p or "").encode()) for p in rows]
        return pl.DataFrame(
            {
                "request_id": frame.get_column("request_id"),
                "capability": [names[k % len(names)] for k in keys],
                "capability_confidence": [0.5 + (k % 5) / 10 for k in keys],
                "cot_score": [(k % 7) / 6 for k in keys],
            }
        )

    monkeypatch.setattr(pipeline, "_request_labels", labels)


def traffic() -> list[list[dict[str, Any]]]:
    """Five days of 60 accounts that join one by one; templates reach 2 to 12 accounts.

    Returned as the insert batches of the incremental store: days 0-1, day 2, day 3, and
    day 4 together with late requests for day 1 (one from an account new on that day).
    """
    rng = random.Random(11)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=7)) for _ in range(4000)]
    bases = [" ".join(rng.choices(words, k=14)) + " item {n} then report." for _ in range(8)]
    systems = [None, "You are worker 7.", "You are a careful grader of student answers."]

    def request(account: int, moment: Any) -> dict[str, Any]:
        reach = 2 + account % 8  # template k goes to the accounts with account % (k + 2) == 0
        shared = [k for k in range(8) if account % (k + 2) == 0 and k + 2 <= reach]
        prompt = (
            rng.choice([bases[k] for k in shared]).format(n=rng.randint(0, 10**6))
            if shared and rng.random() < 0.7
            else " ".join(rng.choices(words, k=20))
        )
        return {
            "account_id": f"acct{account:02d}",
            "api_key_id": f"key{account % 13}",
            "org_id": f"org{account % 4}",
            "timestamp": moment,
            "prompt": prompt,
            "system_prompt": systems[account % 3],
            "model": "new-model" if moment >= T0 + timedelta(days=3) and account % 2 else "old-model",
            "client_ip": f"10.0.{account % 5}.{rng.randint(1, 6)}",
            "status_code": 429 if rng.random() < 0.05 else 200,
            "network_class": "hosting" if account % 4 == 0 else "residential",
            "input_tokens": rng.randint(10, 900),
        }

    days: list[list[dict[str, Any]]] = []
    for day in range(5):
        rows = []
        for account in range(12 * (day + 1)):
            for _ in range(rng.randint(1, 4)):
                moment = T0 + timedelta(days=day, seconds=rng.randint(0, 86_399))
                rows.append(request(account, moment))
        days.append(rows)
    late = [request(account, T0 + timedelta(days=1, hours=23, minutes=account)) for account in (3, 30, 61)]
    return [days[0] + days[1], days[2], days[3], days[4] + late]


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        for table, order in TABLES.items()
    }


@pytest.mark.usefixtures("hashed_labels")
def test_day_by_day_updates_equal_a_full_rebuild(tmp_path: Path) -> None:
    batches = traffic()
    incremental = store.connect(tmp_path / "incremental.duckdb")
    for rows in batches:
        add_requests(incremental, rows)
        compute_features(incremental, config=CONFIG)
    assert incremental.execute("SELECT count(*) FROM feature_dirty_accounts").fetchall() == [(0,)]
    updated = snapshot(incremental)

    # The same partials, all-time tables rebuilt from scratch.
    with transaction(incremental):
        rebuild_all_time(incremental, pipeline._account_capability, rare_share=CONFIG.rare_template_share)
    assert snapshot(incremental) == updated
    incremental.close()

    # A store that saw all requests at once.
    full = store.connect(tmp_path / "full.duckdb")
    add_requests(full, [row for rows in batches for row in rows])
    compute_features(full, config=CONFIG)
    assert snapshot(full) == updated

    # The fixture exercises what the incremental path must get right.
    features = full.execute(
        "SELECT count(*), count(*) FILTER (WHERE shared_rare_template_share > 0),"
        " count(DISTINCT top_template_accounts), count(*) FILTER (WHERE capability_divergence > 0)"
        " FROM account_features"
    ).fetchall()[0]
    assert features[0] == 61 and features[1] > 5 and features[2] >= 4 and features[3] > 50
    full.close()


@pytest.mark.usefixtures("hashed_labels")
def test_a_new_day_recomputes_only_the_accounts_it_touches(tmp_path: Path) -> None:
    """Rows of accounts the new day leaves alone are kept: marks on them survive the update."""
    batches = traffic()
    con = store.connect(tmp_path / "features.duckdb")
    for rows in batches[:3]:
        add_requests(con, rows)
    compute_features(con, config=CONFIG)
    # Day 4 of four accounts new that day, without a system prompt (account % 3 == 0): a new
    # user of a shared system prompt would change its reach and so every user's sharing columns.
    newcomers = {f"acct{account:02d}" for account in (48, 51, 54, 57)}
    add_requests(con, [row for row in batches[3] if row["account_id"] in newcomers])
    con.execute("UPDATE account_features_base SET peak_per_minute = 999, top_template_accounts = -1")
    stats = compute_features(con, config=CONFIG)
    marks = {
        row[0]: (row[1] == 999, row[2] == -1)
        for row in con.execute("SELECT account_id, peak_per_minute, top_template_accounts FROM account_features").fetchall()
    }
    assert stats.accounts == 52
    assert all(marks[account] == (False, False) for account in newcomers)
    # A newcomer's template gains a user: its other users get their sharing columns
    # recomputed, while their own columns (here the peak) are not read again.
    sharing = {
        row[0]
        for row in con.execute(
            "SELECT DISTINCT account_id FROM request_features WHERE template_fp IN"
            " (SELECT template_fp FROM request_features WHERE day = ?)",
            [(T0 + timedelta(days=4)).date()],
        ).fetchall()
    } - newcomers
    assert len(sharing) >= 5
    assert all(marks[account] == (True, False) for account in sharing)
    assert sum(marks[account] == (True, True) for account in marks) >= 8
    con.close()


@pytest.mark.usefixtures("hashed_labels")
def test_a_store_from_before_the_totals_gets_them_built_once(tmp_path: Path) -> None:
    batches = traffic()
    con = store.connect(tmp_path / "old.duckdb")
    for rows in batches[:2]:
        add_requests(con, rows)
    compute_features(con, config=CONFIG)
    for table in ("account_value_totals", "fingerprint_totals", "account_features_base",
                  "feature_dirty_accounts", "feature_dirty_fingerprints"):
        con.execute(f"DROP TABLE {table}")  # what a store written by the previous version lacks
    for rows in batches[2:]:
        add_requests(con, rows)
    compute_features(con, config=CONFIG)
    migrated = snapshot(con)
    con.close()

    full = store.connect(tmp_path / "full.duckdb")
    add_requests(full, [row for rows in batches for row in rows])
    compute_features(full, config=CONFIG)
    assert snapshot(full) == migrated
    full.close()
