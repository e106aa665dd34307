"""Partials of new days written from their featurizing batch equal those rebuilt from the store."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from feature_store import T0, add_requests

from detector import store
from detector.features import compute_features, pipeline
from detector.features.distinct import DistinctTexts
from detector.features.pipeline import FeatureConfig
from detector.features.tables import ALL_TABLES, ensure_feature_tables
from detector.features.totals import rebuild_totals

TEMPLATES = (
    "Solve the problem {n} and show every intermediate step of your reasoning inside <think> tags.",
    "Write a function that parses log {n} and counts failed requests per hour with unit tests.",
)


def varied_labels(frame: pl.DataFrame, prompts: DistinctTexts, *texts: object) -> pl.DataFrame:
    """Labels that depend on the prompt, so capability and CoT attribute rows vary."""
    prompt = pl.col("prompt")
    return frame.with_columns(prompt=prompts.values.gather(prompts.index)).select(
        "request_id",
        pl.when(prompt.str.contains("function"))
        .then(pl.lit("agentic_coding"))
        .when(prompt.str.contains("Solve"))
        .then(pl.lit("math_reasoning"))
        .otherwise(pl.lit("chit_chat"))
        .alias("capability"),
        pl.lit(0.8).alias("capability_confidence"),
        pl.when(prompt.str.contains("reasoning")).then(0.9).otherwise(0.05).alias("cot_score"),
    )


def traffic(
    day: int, count: int, seed: int, model_after: int | None = None
) -> list[dict[str, Any]]:
    """`count` requests of 12 accounts on UTC day `day`: templated, free text, several IPs."""
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=5)) for _ in range(500)]
    rows = []
    for i in range(count):
        account = rng.randrange(12)
        templated = account < 5
        rows.append(
            {
                "account_id": f"acct{account}",
                "api_key_id": f"key{account}" if account % 4 else None,
                "org_id": f"org{account % 3}",
                "timestamp": T0 + timedelta(days=day, seconds=rng.randrange(86_400)),
                "prompt": rng.choice(TEMPLATES).format(n=i)
                if templated
                else " ".join(rng.choices(words, k=20)),
                "system_prompt": "You are worker 7." if templated and i % 3 else None,
                "model": "new-model"
                if model_after is not None and templated and i >= model_after
                else "old-model",
                "client_ip": f"10.0.{account}.{rng.randrange(4 if templated else 1)}",
                "ip_prefix": f"10.0.{account}.0/24",
                "asn": 64_500 + account % 3,
                "user_agent": "python-httpx/0.27.0" if templated else f"browser/{account}",
                "status_code": rng.choice((200, 200, 200, 429, 500)),
                "network_class": "hosting" if templated else "residential",
                "input_tokens": rng.randrange(10, 900),
                "output_tokens": rng.randrange(10, 2_000),
                "tools": '[{"type": "function"}]' if i % 4 == 0 else None,
            }
        )
    return rows


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every feature table, as sorted rows (row order in a table is not part of its content)."""
    present = {
        row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    return {
        table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        for table in ALL_TABLES
        if table in present
    }


def featurize(path: Path, fuse: bool) -> tuple[dict[str, list[tuple[Any, ...]]], list[set[str]]]:
    """Four runs: two new days; a new day with a model release, late requests on an old day and
    a big day split by hash; a new day and late requests that move the release earlier (pivot
    days recomputed); nothing new. Returns the tables and each run's phases."""
    con = store.connect(path)
    config = FeatureConfig(batch_rows=150, fuse_new_days=fuse)
    phases = []
    add_requests(con, traffic(0, 120, seed=1) + traffic(1, 110, seed=2))
    phases.append(set(compute_features(con, config=config).seconds))
    add_requests(
        con,
        traffic(2, 100, seed=3, model_after=40)  # a new day, with a model released on it
        + traffic(0, 15, seed=4)  # late requests of a featurized day
        + traffic(3, 400, seed=5, model_after=0),  # a day bigger than a batch: split by hash
    )
    phases.append(set(compute_features(con, config=config).seconds))
    add_requests(con, traffic(4, 90, seed=6, model_after=0) + traffic(2, 30, seed=7, model_after=0))
    phases.append(set(compute_features(con, config=config).seconds))
    phases.append(set(compute_features(con, config=config).seconds))
    tables = snapshot(con)
    con.close()
    return tables, phases


@pytest.fixture
def labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "_request_labels", varied_labels)


@pytest.mark.usefixtures("labels")
def test_fused_new_days_equal_the_store_path(tmp_path: Path) -> None:
    fused, fused_phases = featurize(tmp_path / "fused.duckdb", fuse=True)
    general, general_phases = featurize(tmp_path / "general.duckdb", fuse=False)
    # the fused path ran (first two runs hold new days) and the general path did not use it
    assert all("new_day_partials" in fused_phases[run] for run in range(3))
    assert not any("new_day_partials" in phases for phases in general_phases)
    assert fused.keys() == general.keys()
    for table in fused:
        assert fused[table] == general[table], table
    assert len(fused["request_features"]) == 120 + 110 + 100 + 15 + 400 + 90 + 30
    # the partials cover every request, and the late and split days are in them
    days = {row[1]: row for row in fused["account_daily_features"]}
    assert len(days) == 5
    requests = sum(row[2] for row in fused["account_daily_features"])
    assert requests == 865
    pivots = sum(row[8] for row in fused["account_daily_features"])
    assert pivots > 0


@pytest.mark.usefixtures("labels")
def test_fused_partials_equal_a_full_rebuild(tmp_path: Path) -> None:
    fused, _ = featurize(tmp_path / "fused.duckdb", fuse=True)
    con = store.connect(tmp_path / "fused.duckdb")
    for table in ALL_TABLES:
        if table not in ("request_features", "templates", "template_bands", "prompt_labels"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    # partials from the store path alone (request_features kept: fingerprints are history)
    ensure_feature_tables(con)
    con.execute("INSERT INTO feature_dirty_days SELECT DISTINCT day FROM request_features")
    stats = compute_features(con, config=FeatureConfig(fuse_new_days=False))
    assert stats.new_requests == 0 and stats.days_recomputed == 5
    rebuilt = snapshot(con)
    con.close()
    for table in (
        "account_daily_features",
        "account_day_attributes",
        "key_daily_features",
        "account_value_totals",
        "fingerprint_totals",
        "account_features",
        "key_features",
        "org_features",
        "template_features",
    ):
        assert rebuilt[table] == fused[table], table


@pytest.mark.usefixtures("labels")
def test_run_killed_before_the_totals_merge_is_completed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = store.connect(tmp_path / "killed.duckdb")
    add_requests(con, traffic(0, 120, seed=1))
    compute_features(con)
    add_requests(con, traffic(1, 110, seed=2) + traffic(0, 10, seed=3))
    merge = pipeline.merge_new_days

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    # the new day's batch commits its partials, then the run dies before folding them in
    monkeypatch.setattr(pipeline, "merge_new_days", killed)
    with pytest.raises(KeyboardInterrupt):
        compute_features(con)
    assert con.execute("SELECT day FROM feature_unmerged_days").fetchall() == [
        ((T0 + timedelta(days=1)).date(),)
    ]
    monkeypatch.setattr(pipeline, "merge_new_days", merge)
    stats = compute_features(con)
    assert stats.new_requests == 0
    assert con.execute("SELECT count(*) FROM feature_unmerged_days").fetchall() == [(0,)]
    totals = snapshot(con)
    # the running totals equal totals rebuilt from every partial: the day counted once
    rebuild_totals(con)
    rebuilt = snapshot(con)
    for table in ("account_value_totals", "fingerprint_totals"):
        assert totals[table] == rebuilt[table], table
    requests = con.execute(
        "SELECT sum(requests) FROM account_value_totals WHERE kind = 'model'"
    ).fetchall()
    assert requests == [(240,)]
    con.close()
