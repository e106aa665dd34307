"""The feature stage, top to bottom: featurize new requests, recompute touched days, rebuild totals.

1. Requests not yet in `request_features` (anti-join on request_id, within `since`/`until`)
   are read in batches of whole UTC days (big days split by a hash of request_id), with their
   prompts clipped to the windows the text features read.
2. Per batch: template and system-prompt fingerprints (`templates`), capability and CoT
   scores (`capability`, `cot`), one transaction per batch, so an interrupted run resumes.
3. Per-day partials are rewritten for the days the new requests touch (plus the days whose
   model-pivot flags moved), in chunks of days that bound memory. Touched days are recorded
   in `feature_dirty_days` in the same transactions, so work cut short by a killed run is
   picked up by the next one.
4. `account_features`, `key_features`, `org_features` and `template_features` are rebuilt
   from the partials.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import TypeVar

import duckdb
import polars as pl

from detector.features.accounts import RARE_TEMPLATE_SHARE, rebuild_all_time
from detector.features.normalize import (
    TEMPLATE_HEAD_CHARS,
    TEMPLATE_TAIL_CHARS,
    masked_template_text,
)
from detector.features.tables import ensure_feature_tables
from detector.features.templates import LINK_THRESHOLD, assign_fingerprints
from detector.features.volume import recompute_day_partials, refresh_model_first_seen
from detector.store import transaction

# The capability and CoT scorers read at most this much of a prompt (their own windows).
TEXT_HEAD_CHARS = 3000
TEXT_TAIL_CHARS = 1000
_HASH_BUCKETS = 64

_Item = TypeVar("_Item")


@dataclass(frozen=True)
class FeatureConfig:
    """Sizes and thresholds of a feature run; the defaults suit millions of requests."""

    batch_rows: int = 200_000
    partial_rows: int = 2_000_000
    template_head_chars: int = TEMPLATE_HEAD_CHARS
    template_tail_chars: int = TEMPLATE_TAIL_CHARS
    link_threshold: float = LINK_THRESHOLD
    rare_template_share: float = RARE_TEMPLATE_SHARE


@dataclass
class FeatureRunStats:
    """What a feature run did, with wall-clock and process CPU seconds (all threads) per phase."""

    new_requests: int = 0
    batches: int = 0
    new_templates: int = 0
    new_template_components: int = 0
    new_system_templates: int = 0
    days_recomputed: int = 0
    accounts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Batch:
    first_day: date
    last_day: date
    parts: int
    part: int


def compute_features(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: bool = False,
    config: FeatureConfig | None = None,
) -> FeatureRunStats:
    """Featurize the requests not yet featurized (in [since, until)) and refresh the totals."""
    config = config or FeatureConfig()
    stats = FeatureRunStats()
    ensure_feature_tables(con)
    with _timed(stats, "pending"):
        day_counts = _pending_days(con, since, until)
    stats.new_requests = sum(day_counts.values())
    batches = _plan_batches(day_counts, config.batch_rows)
    stats.batches = len(batches)
    with _timed(stats, "request_features"):
        for batch in _progress(batches, progress, "featurizing requests"):
            with transaction(con):
                _featurize_batch(con, batch, config, stats)
    with _timed(stats, "day_partials"):
        stats.days_recomputed = _recompute_dirty_days(con, config, progress)
    stale = con.execute("SELECT count(*) FROM feature_dirty_days WHERE day IS NULL").fetchall()
    if stale[0][0] or not _exists(con, "account_features"):
        with _timed(stats, "all_time"):
            capability = _account_capability(con)
            with transaction(con):
                stats.accounts = rebuild_all_time(
                    con, capability, rare_share=config.rare_template_share
                )
                con.execute("DELETE FROM feature_dirty_days WHERE day IS NULL")
    else:
        stats.accounts = con.execute("SELECT count(*) FROM account_features").fetchall()[0][0]
    con.execute("DROP TABLE IF EXISTS _dg_pending")
    return stats


def _recompute_dirty_days(
    con: duckdb.DuckDBPyConnection, config: FeatureConfig, progress: bool
) -> int:
    """Rewrite the partials of every dirty day, chunk by chunk; return the number of days."""
    with transaction(con):
        _mark_dirty(con, refresh_model_first_seen(con))
    rows = con.execute(
        "SELECT DISTINCT day FROM feature_dirty_days WHERE day IS NOT NULL ORDER BY day"
    ).fetchall()
    touched = [row[0] for row in rows]
    chunks = _chunk_days(con, touched, config.partial_rows)
    for days in _progress(chunks, progress, "daily partials"):
        with transaction(con):
            recompute_day_partials(con, days)
            _mark_dirty(con, [None])  # the all-time tables are now behind the partials
            con.execute(
                "DELETE FROM feature_dirty_days WHERE day BETWEEN ? AND ?", [days[0], days[-1]]
            )
    return len(touched)


def _pending_days(
    con: duckdb.DuckDBPyConnection, since: datetime | None, until: datetime | None
) -> dict[date, int]:
    """Materialize `_dg_pending` (new request ids, day, hash bucket); return counts per day."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _dg_pending AS
        SELECT r.request_id, CAST(timezone('UTC', r."timestamp") AS DATE) AS day,
               CAST(hash(r.request_id) % $buckets AS INTEGER) AS bucket
        FROM requests r
        WHERE ($since IS NULL OR r."timestamp" >= $since) AND ($until IS NULL OR r."timestamp" < $until)
          AND NOT EXISTS (SELECT 1 FROM request_features f WHERE f.request_id = r.request_id)
        """,
        {"since": since, "until": until, "buckets": _HASH_BUCKETS},
    )
    rows = con.execute("SELECT day, count(*) FROM _dg_pending GROUP BY day ORDER BY day").fetchall()
    return {day: int(count) for day, count in rows}


def _plan_batches(day_counts: dict[date, int], batch_rows: int) -> list[_Batch]:
    """Runs of consecutive small days up to `batch_rows`; a bigger day split by hash bucket."""
    batches: list[_Batch] = []
    run: list[date] = []
    run_rows = 0
    for day, count in sorted(day_counts.items()):
        if count > batch_rows:
            if run:
                batches.append(_Batch(run[0], run[-1], 1, 0))
                run, run_rows = [], 0
            parts = min(_HASH_BUCKETS, -(-count // batch_rows))
            batches.extend(_Batch(day, day, parts, part) for part in range(parts))
            continue
        if run and run_rows + count > batch_rows:
            batches.append(_Batch(run[0], run[-1], 1, 0))
            run, run_rows = [], 0
        run.append(day)
        run_rows += count
    if run:
        batches.append(_Batch(run[0], run[-1], 1, 0))
    return batches


_BATCH_ROWS = """
SELECT r.request_id, r.account_id, r."timestamp", p.day,
       CASE WHEN length(r.prompt) > $head + $tail
            THEN left(r.prompt, $head) || chr(10) || right(r.prompt, $tail) ELSE r.prompt END AS prompt,
       CASE WHEN length(r.system_prompt) > $head + $tail
            THEN left(r.system_prompt, $head) || chr(10) || right(r.system_prompt, $tail)
            ELSE r.system_prompt END AS system_prompt,
       CAST(r.tools AS VARCHAR) AS tools,
       coalesce(CAST(r.tools AS VARCHAR) NOT IN ('[]', '{}', 'null', ''), false) AS has_tools
FROM _dg_pending p
JOIN requests r ON r.request_id = p.request_id
WHERE p.day BETWEEN $first_day AND $last_day AND p.bucket % $parts = $part
  AND r."timestamp" >= $low AND r."timestamp" < $high
ORDER BY r."timestamp", r.request_id
"""


def _featurize_batch(
    con: duckdb.DuckDBPyConnection, batch: _Batch, config: FeatureConfig, stats: FeatureRunStats
) -> None:
    frame = pl.from_arrow(
        con.sql(
            _BATCH_ROWS,
            params={
                "head": TEXT_HEAD_CHARS,
                "tail": TEXT_TAIL_CHARS,
                "first_day": batch.first_day,
                "last_day": batch.last_day,
                "parts": batch.parts,
                "part": batch.part,
                "low": datetime.combine(batch.first_day, clock.min, tzinfo=UTC),
                "high": datetime.combine(batch.last_day + timedelta(days=1), clock.min, tzinfo=UTC),
            },
        ).to_arrow_table()
    )
    assert isinstance(frame, pl.DataFrame)
    if frame.height == 0:
        return
    with _timed(stats, "templates"):
        prompts = masked_template_text(
            frame.get_column("prompt"), config.template_head_chars, config.template_tail_chars
        )
        prompt_fps = assign_fingerprints(con, "prompt", prompts, threshold=config.link_threshold)
        system_fps = _system_fingerprints(con, frame, config)
    stats.new_templates += prompt_fps.new_templates
    stats.new_template_components += prompt_fps.new_components
    stats.new_system_templates += system_fps[1]
    with _timed(stats, "capability_cot"):
        labels = _request_labels(frame)
    rows = (
        pl.concat(
            [
                frame.select("request_id", "account_id", "timestamp", "day", "has_tools"),
                prompt_fps.rows,
                system_fps[0],
            ],
            how="horizontal",
        )
        .join(labels, on="request_id", how="left")
        .select(
            "request_id",
            "account_id",
            "timestamp",
            "day",
            "template_hash",
            "template_fp",
            "system_fp",
            "capability",
            "capability_confidence",
            "cot_score",
            "has_tools",
        )
    )
    con.register("_dg_request_features", rows)
    try:
        con.execute("INSERT INTO request_features SELECT * FROM _dg_request_features")
    finally:
        con.unregister("_dg_request_features")
    _mark_dirty(con, rows.get_column("day").unique().to_list())


def _system_fingerprints(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, config: FeatureConfig
) -> tuple[pl.DataFrame, int]:
    """`system_fp` per row (NULL without a system prompt) and the count of new system templates."""
    present = frame.select(
        (
            pl.col("system_prompt").is_not_null()
            & (pl.col("system_prompt").str.strip_chars() != "")
        ).alias("present")
    ).to_series()
    systems = masked_template_text(
        frame.get_column("system_prompt").filter(present),
        config.template_head_chars,
        config.template_tail_chars,
    )
    assigned = assign_fingerprints(con, "system", systems, threshold=config.link_threshold)
    column = pl.Series("system_fp", [None] * frame.height, dtype=pl.String)
    column = column.scatter(present.arg_true(), assigned.rows.get_column("template_fp"))
    return pl.DataFrame([column]), assigned.new_templates


def _request_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """Capability label and CoT elicitation score per request (the capability helper's models)."""
    from detector.features.capability import classify_requests
    from detector.features.cot import cot_elicitation_scores

    capability = classify_requests(frame.select("request_id", "prompt", "system_prompt", "tools"))
    cot = cot_elicitation_scores(frame.select("request_id", "prompt", "system_prompt"))
    return capability.select("request_id", "capability", "capability_confidence").join(
        cot.select("request_id", "cot_score"), on="request_id", how="left"
    )


def _account_capability(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """Per-account capability mix and CoT share from all featurized requests."""
    from detector.features.capability import account_capability_features

    rows = pl.from_arrow(
        con.sql("SELECT account_id, capability, cot_score FROM request_features").to_arrow_table()
    )
    assert isinstance(rows, pl.DataFrame)
    if rows.height == 0:
        return None
    return account_capability_features(rows)


def _chunk_days(
    con: duckdb.DuckDBPyConnection, days: list[date], max_rows: int
) -> list[list[date]]:
    """Consecutive groups of `days` whose featurized requests stay under `max_rows` (one day at least)."""
    if not days:
        return []
    counts = dict(
        con.execute(
            "SELECT day, count(*) FROM request_features WHERE day BETWEEN ? AND ? GROUP BY day",
            [days[0], days[-1]],
        ).fetchall()
    )
    chunks: list[list[date]] = []
    current: list[date] = []
    rows = 0
    for day in days:
        count = int(counts.get(day, 0))
        if current and rows + count > max_rows:
            chunks.append(current)
            current, rows = [], 0
        current.append(day)
        rows += count
    chunks.append(current)
    return chunks


def _mark_dirty(con: duckdb.DuckDBPyConnection, days: Sequence[date | None]) -> None:
    """Record days whose partials (or, for None, the all-time tables) need recomputing."""
    if days:
        con.executemany("INSERT INTO feature_dirty_days VALUES (?)", [[day] for day in days])


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchall()[0]
    return bool(row and row[0])


@contextmanager
def _timed(stats: FeatureRunStats, phase: str) -> Iterator[None]:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        stats.seconds[phase] = stats.seconds.get(phase, 0.0) + time.perf_counter() - started
        stats.cpu_seconds[phase] = stats.cpu_seconds.get(phase, 0.0) + time.process_time() - cpu


def _progress(items: Sequence[_Item], show: bool, label: str) -> Iterator[_Item]:
    if not show or not items:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label)


__all__ = ["FeatureConfig", "FeatureRunStats", "compute_features"]
