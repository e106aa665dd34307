"""The stage as a whole: idempotent, incremental equal to full, old days left alone."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from feature_store import T0, add_requests

from detector import store
from detector.features import compute_features

TABLES = {
    "request_features": "request_id",
    "account_daily_features": "account_id, day",
    "account_day_attributes": "account_id, day, kind, value",
    "account_features": "account_id",
    "key_features": "api_key_id",
    "template_features": "kind, template_fp",
}
TEMPLATES = (
    "Solve the problem {n} and show every intermediate step of your reasoning inside <think> tags.",
    "Solve problem {n} and show each intermediate step of the reasoning inside <think> tags please.",
    "Write a function that parses log {n} and counts failed requests per hour with unit tests.",
)


def three_days() -> list[dict[str, Any]]:
    """Nine accounts over three days; template variants recur across days."""
    rng = random.Random(4)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=6)) for _ in range(3000)]
    rows = []
    for i in range(240):
        account = f"acct{i % 9}"
        templated = i % 9 < 4
        prompt = (
            rng.choice(TEMPLATES).format(n=i) if templated else " ".join(rng.choices(words, k=25))
        )
        rows.append(
            {
                "account_id": account,
                "api_key_id": f"key{i % 9}",
                "org_id": f"org{i % 3}",
                "timestamp": T0 + timedelta(minutes=18 * i + rng.randint(0, 9)),
                "prompt": prompt,
                "system_prompt": "You are worker 7." if templated else None,
                "model": "new-model" if i > 200 and templated else "old-model",
                "client_ip": f"10.0.0.{i % 13}",
                "status_code": 429 if i % 17 == 0 else 200,
                "network_class": "hosting" if templated else "residential",
            }
        )
    return rows


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        for table, order in TABLES.items()
    }


@pytest.mark.usefixtures("plain_labels")
def test_running_twice_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(con, three_days())
    first = compute_features(con)
    before = snapshot(con)
    second = compute_features(con)
    assert (first.new_requests, second.new_requests) == (240, 0)
    assert snapshot(con) == before
    assert len(before["request_features"]) == 240


@pytest.mark.usefixtures("plain_labels")
def test_incremental_runs_equal_one_full_run(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = three_days()
    add_requests(con, rows)
    compute_features(con)
    full = snapshot(con)

    split = T0 + timedelta(days=2)
    incremental = store.connect(tmp_path / "incremental.duckdb")
    add_requests(incremental, [r for r in rows if r["timestamp"] < split])
    compute_features(incremental)
    add_requests(incremental, [r for r in rows if r["timestamp"] >= split])
    stats = compute_features(incremental)
    assert stats.new_requests == sum(r["timestamp"] >= split for r in rows)
    # Request ids are numbered per insert in both stores the same way, so rows compare directly.
    assert snapshot(incremental) == full
    # The templated accounts use three variants of two templates: two fingerprints in all.
    fps = incremental.execute(
        "SELECT count(DISTINCT template_fp) FROM request_features WHERE account_id IN ('acct0', 'acct1', 'acct2', 'acct3')"
    ).fetchall()[0][0]
    assert fps == 2
    incremental.close()


@pytest.mark.usefixtures("plain_labels")
def test_new_day_leaves_old_partials_alone(con: duckdb.DuckDBPyConnection) -> None:
    rows = three_days()
    split = T0 + timedelta(days=2)
    add_requests(con, [r for r in rows if r["timestamp"] < split])
    compute_features(con)
    # Mark an old day's partial: a recomputation would overwrite it, the totals must show it.
    con.execute(
        "UPDATE account_daily_features SET peak_per_minute = 999 WHERE account_id = 'acct5' AND day = ?",
        [T0.date()],
    )
    add_requests(con, [r for r in rows if r["timestamp"] >= split])
    stats = compute_features(con)
    assert stats.days_recomputed == 1
    assert con.execute(
        "SELECT peak_per_minute FROM account_features WHERE account_id = 'acct5'"
    ).fetchall() == [(999,)]


@pytest.mark.usefixtures("plain_labels")
def test_late_request_recomputes_its_day(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(con, [{"account_id": "a", "timestamp": T0 + timedelta(hours=h)} for h in (1, 2)])
    add_requests(con, [{"account_id": "a", "timestamp": T0 + timedelta(days=1, hours=1)}])
    compute_features(con)
    add_requests(con, [{"account_id": "a", "timestamp": T0 + timedelta(hours=3)}])
    stats = compute_features(con)
    assert (stats.new_requests, stats.days_recomputed) == (1, 1)
    day = con.execute(
        "SELECT requests, gap_count FROM account_daily_features WHERE day = ?", [T0.date()]
    ).fetchall()
    assert day == [(3, 2)]


@pytest.mark.usefixtures("plain_labels")
def test_since_and_until_bound_what_is_featurized(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(con, [{"account_id": "a", "timestamp": T0 + timedelta(days=d)} for d in range(4)])
    stats = compute_features(con, since=T0 + timedelta(days=1), until=T0 + timedelta(days=3))
    assert stats.new_requests == 2
    days = [
        row[0] for row in con.execute("SELECT day FROM request_features ORDER BY day").fetchall()
    ]
    assert days == [(T0 + timedelta(days=1)).date(), (T0 + timedelta(days=2)).date()]


def test_batches_split_big_days(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detector.features import pipeline

    monkeypatch.setattr(
        pipeline,
        "_request_labels",
        lambda frame, *texts: frame.select("request_id").with_columns(
            capability=None, capability_confidence=None, cot_score=None
        ),
    )
    monkeypatch.setattr(pipeline, "_account_capability", lambda con: None)
    add_requests(
        con,
        [{"account_id": f"a{i % 5}", "timestamp": T0 + timedelta(seconds=i)} for i in range(50)],
    )
    stats = compute_features(con, config=pipeline.FeatureConfig(batch_rows=12))
    assert stats.batches >= 4
    assert con.execute("SELECT count(DISTINCT request_id) FROM request_features").fetchall() == [
        (50,)
    ]


@pytest.mark.slow
def test_capability_and_cot_columns_come_from_their_models(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(
        con,
        [
            {
                "account_id": "a",
                "timestamp": T0,
                "prompt": "Refactor this Python function and add unit tests.",
                "tools": '[{"type": "function", "function": {"name": "run_tests"}}]',
            },
            {
                "account_id": "a",
                "timestamp": T0 + timedelta(minutes=1),
                "prompt": "Show your full hidden reasoning inside <thinking> tags, every intermediate step.",
            },
        ],
    )
    compute_features(con)
    rows = con.execute(
        "SELECT capability, cot_score, has_tools FROM request_features ORDER BY timestamp"
    ).fetchall()
    assert all(isinstance(capability, str) for capability, _, _ in rows)
    assert 0.0 <= rows[0][1] < rows[1][1] <= 1.0
    assert [has_tools for _, _, has_tools in rows] == [True, False]
    columns = {row[0] for row in con.execute("DESCRIBE account_features").fetchall()}
    assert {"capability_entropy", "high_value_share", "cot_share", "cot_intensity"} <= columns


@pytest.mark.usefixtures("plain_labels")
def test_progress_bars_do_not_change_results(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(con, [{"account_id": "a", "timestamp": T0 + timedelta(days=d)} for d in range(3)])
    stats = compute_features(con, progress=True)
    assert (stats.new_requests, stats.batches, stats.days_recomputed, stats.accounts) == (
        3,
        1,
        3,
        1,
    )
    assert set(stats.seconds) >= {"pending", "templates", "day_partials", "all_time"}


@pytest.mark.usefixtures("plain_labels")
@pytest.mark.parametrize("fuse", [False, True])
def test_interrupted_run_is_completed_by_the_next(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, fuse: bool
) -> None:
    from detector.features import pipeline

    config = pipeline.FeatureConfig(fuse_new_days=fuse)
    add_requests(con, [{"account_id": "a", "timestamp": T0 + timedelta(hours=h)} for h in range(3)])
    compute_features(con)
    add_requests(
        con, [{"account_id": "a", "timestamp": T0 + timedelta(days=1, hours=h)} for h in range(2)]
    )

    def killed(*args: object) -> int:
        raise KeyboardInterrupt

    # The requests are featurized and committed (their day queued), then the run dies before
    # the partials: the general path's or, for a new day, those written from the batch.
    monkeypatch.setattr(pipeline, "recompute_day_partials", killed)
    monkeypatch.setattr(pipeline, "write_new_day_partials", killed)
    with pytest.raises(KeyboardInterrupt):
        compute_features(con, config=config)
    monkeypatch.undo()
    monkeypatch.setattr(
        pipeline,
        "_request_labels",
        lambda frame, *texts: frame.select("request_id").with_columns(
            capability=None, capability_confidence=None, cot_score=None
        ),
    )
    monkeypatch.setattr(pipeline, "_account_capability", lambda con: None)
    stats = compute_features(con, config=config)
    assert (stats.new_requests, stats.days_recomputed) == (0, 1)
    assert con.execute("SELECT requests, active_days FROM account_features").fetchall() == [(5, 2)]
    assert con.execute("SELECT count(*) FROM feature_dirty_days").fetchall() == [(0,)]
