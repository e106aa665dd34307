"""`scan`: features → graph → scoring → rules → campaigns, then one transaction that publishes.

This module owns the run log (`scan_runs`), the watermark (the last ingest run scanned) and
the scan lock. Derived tables are rebuilt idempotently by their stages; the persistent scan
outputs (campaigns, account scores) and the watermark land together in one transaction at
the end, so a scan killed at any point leaves the previous results and watermark in place
and the next scan redoes the work.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from detector import store
from detector.campaigns import (
    KnownCampaigns,
    ensure_tables,
    gather_evidence,
    known_campaigns,
    publish,
)
from detector.campaigns.profile import one_row
from detector.errors import DistillguardError
from detector.rules import load_rules
from detector.scan_lock import scan_lock
from detector.scan_stages import (
    ScanContext,
    ScanOptions,
    Stage,
    campaigns_stage,
    features_stage,
    graph_stage,
    rules_stage,
    scoring_stage,
)

__all__ = [
    "DEFAULT_STAGES",
    "CampaignLine",
    "ScanContext",
    "ScanOptions",
    "ScanSummary",
    "Stage",
    "campaigns_stage",
    "features_stage",
    "graph_stage",
    "rules_stage",
    "run_scan",
    "scan",
    "scoring_stage",
]


@dataclass(frozen=True)
class CampaignLine:
    """One line of the scan summary."""

    campaign_id: str
    alert_id: str
    severity: str
    score: float
    accounts: int
    families: tuple[str, ...]
    alerted: bool
    status: str


@dataclass(frozen=True)
class ScanSummary:
    run_id: int
    new_requests: int
    new: tuple[CampaignLine, ...]
    updated: tuple[CampaignLine, ...]
    unchanged: int
    closed: int
    new_alerts: int
    alerts: int
    accounts_scored: int
    seconds: dict[str, float]


DEFAULT_STAGES: tuple[Stage, ...] = (
    ("features", features_stage),
    ("graph", graph_stage),
    ("scoring", scoring_stage),
    ("rules", rules_stage),
    ("campaigns", campaigns_stage),
)


def _last_done(con: duckdb.DuckDBPyConnection) -> tuple[int, datetime | None]:
    """(last ingest run id scanned, watermark time) of the newest completed scan."""
    row = one_row(
        con, "SELECT stats, watermark FROM scan_runs WHERE status = 'done' ORDER BY run_id DESC LIMIT 1"
    )
    if not row:
        return 0, None
    stats = json.loads(row[0]) if row[0] else {}
    return int(stats.get("ingest_run_id") or 0), row[1]


def _ingest_high_water(con: duckdb.DuckDBPyConnection) -> int:
    """The newest ingest run such that no earlier run is still running."""
    row = one_row(
        con,
        """
        SELECT coalesce(max(run_id), 0) FROM ingest_runs
        WHERE run_id < coalesce((SELECT min(run_id) FROM ingest_runs WHERE status = 'running'),
                                9223372036854775807)
        """,
    )
    return int(row[0]) if row else 0


# -- the scan ----------------------------------------------------------------------------

def run_scan(
    db_path: Path, options: ScanOptions | None = None, stages: Sequence[Stage] | None = None
) -> ScanSummary:
    """Take the scan lock, open the store, scan, and close it again."""
    with scan_lock(db_path):
        con = store.connect(db_path)
        try:
            return scan(con, options, stages)
        finally:
            con.close()


def scan(
    con: duckdb.DuckDBPyConnection,
    options: ScanOptions | None = None,
    stages: Sequence[Stage] | None = None,
) -> ScanSummary:
    """Run the stages over an open store (the caller holds the scan lock) and publish."""
    options = options or ScanOptions()
    with store.session_settings(con, memory_limit=options.memory_limit):
        return _scan(con, options, DEFAULT_STAGES if stages is None else stages)


def _scan(con: duckdb.DuckDBPyConnection, options: ScanOptions, stages: Sequence[Stage]) -> ScanSummary:
    rules = load_rules(options.rules_dir)
    ensure_tables(con)
    now = datetime.now(UTC)
    # We hold the lock, so any run still marked running belongs to a scan that was killed.
    con.execute(
        "UPDATE scan_runs SET status = 'abandoned', finished_at = ? WHERE status = 'running'", [now]
    )
    previous_ingest, _ = _last_done(con)
    high_water = _ingest_high_water(con)
    new_row = one_row(
        con,
        'SELECT count(*), min("timestamp") FROM requests WHERE ingest_run_id > ? AND ingest_run_id <= ?',
        [previous_ingest, high_water],
    )
    new_requests, first_new = (int(new_row[0]), new_row[1]) if new_row else (0, None)
    backfill = options.since is not None or options.until is not None
    since = options.since if options.since is not None else (first_new if previous_ingest else None)
    row = one_row(
        con,
        "INSERT INTO scan_runs (run_id, started_at, status, since, \"until\")"
        " VALUES (nextval('scan_run_ids'), ?, 'running', ?, ?) RETURNING run_id",
        [now, since, options.until],
    )
    assert row is not None
    run_id = int(row[0])
    ctx = ScanContext(con, options, rules, since, options.until, new_requests)
    stats: dict[str, Any] = {"new_requests": new_requests, "stages": {}}
    seconds: dict[str, float] = {}
    try:
        for name, stage in stages:
            started = time.perf_counter()
            stage_stats = stage(ctx)
            seconds[name] = round(time.perf_counter() - started, 3)
            stage_stats = dict(stage_stats or {})
            if "seconds" in stage_stats:  # a stage's own per-phase timings
                stage_stats["phase_seconds"] = stage_stats.pop("seconds")
            stats["stages"][name] = {**stage_stats, "seconds": seconds[name]}
        started = time.perf_counter()
        known = ctx.known or known_campaigns(con)
        summary = _publish(ctx, run_id, now, known, stats, backfill, previous_ingest, high_water)
        seconds["publish"] = round(time.perf_counter() - started, 3)
    except BaseException as exc:
        _mark_failed(con, run_id, exc)
        raise
    if options.review_tables:
        # After the publish commit: a scan killed here keeps its results, and the dashboard
        # rebuilds tables that lag behind the last finished scan when it starts.
        started = time.perf_counter()
        from detector.review import precompute  # the dashboard's tables: imported only here

        precompute(con)
        seconds["review"] = round(time.perf_counter() - started, 3)
    return ScanSummary(**{**summary.__dict__, "seconds": seconds})


def _publish(
    ctx: ScanContext,
    run_id: int,
    now: datetime,
    known: KnownCampaigns,
    stats: dict[str, Any],
    backfill: bool,
    previous_ingest: int,
    high_water: int,
) -> ScanSummary:
    con = ctx.con
    drafts = ctx.drafts
    evidence = gather_evidence(con, drafts, until=ctx.until, params=ctx.options.campaign_params)
    hits = pl.concat([
        ctx.frames.get("account_hits", pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String}))
        .with_columns(pl.lit("account").alias("entity_type")),
        ctx.frames.get("cluster_hits", pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String}))
        .with_columns(pl.lit("cluster").alias("entity_type")),
    ]).select("entity_type", "entity_id", "rule_id")
    scores = ctx.frames.get("scores")
    if scores is None:
        raise DistillguardError("scan produced no account scores (campaigns stage missing)")
    lines_new, lines_updated, unchanged = [], [], 0
    new_alerts = 0
    for d in drafts:
        line = CampaignLine(d.campaign_id, d.alert_id, d.severity, d.score, len(d.members),
                            d.families, d.alerted, d.status)
        if d.campaign_id not in known.status:
            lines_new.append(line)
            new_alerts += d.alerted
        else:
            new_alerts += d.alerted and not known.alerted.get(d.campaign_id, False)
            if known.members.get(d.campaign_id) != frozenset(d.members) or abs(
                known.score.get(d.campaign_id, -1.0) - d.score
            ) > 1e-9:
                lines_updated.append(line)
            else:
                unchanged += 1
    # Newly closed: carried over this scan, but active (or unknown) before.
    closed = sum(1 for cid in ctx.closed if known.state.get(cid, ("active",))[0] != "closed")
    watermark_ingest = previous_ingest if backfill else high_water
    stats.update({
        "ingest_run_id": watermark_ingest,
        "campaigns": len(drafts),
        "alerts": sum(d.alerted for d in drafts),
        "new_campaigns": len(lines_new),
        "updated_campaigns": len(lines_updated),
        "closed_campaigns": closed,
        "new_alerts": int(new_alerts),
    })
    watermark = one_row(
        con, 'SELECT max("timestamp") FROM requests WHERE ingest_run_id <= ?', [watermark_ingest]
    )
    with store.transaction(con):
        publish(con, run_id=run_id, now=now, drafts=drafts, evidence=evidence, scores=scores,
                hits=hits, known=known, closed=ctx.closed)
        con.execute(
            "UPDATE scan_runs SET status = 'done', finished_at = ?, watermark = ?, stats = ?"
            " WHERE run_id = ?",
            [datetime.now(UTC), watermark[0] if watermark else None,
             json.dumps(stats, sort_keys=True, default=str), run_id],
        )
    return ScanSummary(
        run_id=run_id,
        new_requests=ctx.new_requests,
        new=tuple(lines_new),
        updated=tuple(lines_updated),
        unchanged=unchanged,
        closed=closed,
        new_alerts=int(new_alerts),
        alerts=sum(d.alerted for d in drafts),
        accounts_scored=scores.height,
        seconds={},
    )


def _mark_failed(con: duckdb.DuckDBPyConnection, run_id: int, exc: BaseException) -> None:
    """Record the failure on the run row; never mask the original error."""
    with contextlib.suppress(duckdb.Error):  # the connection itself may be what failed
        con.execute(
            "UPDATE scan_runs SET status = 'failed', finished_at = ?, stats = ? WHERE run_id = ?",
            [datetime.now(UTC), json.dumps({"error": f"{type(exc).__name__}: {exc}"}), run_id],
        )
