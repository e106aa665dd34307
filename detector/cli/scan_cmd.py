"""`distillguard scan`: the scheduled job — features, graph, models, rules, campaigns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from detector.cli.app import DEFAULT_DB_PATH, DbOption, app, reports_errors
from detector.errors import DistillguardError
from detector.scan import CampaignLine, ScanOptions, ScanSummary, run_scan
from detector.scan_stages import GRAPH_LOOKBACK_DAYS, SCAN_MEMORY_LIMIT


def parse_time(value: str | None) -> datetime | None:
    """RFC 3339 (or a date, meaning its UTC midnight); naive values are taken as UTC."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def check_time(value: str | None) -> str | None:
    """Option callback: a malformed time is a usage error (exit code 2)."""
    try:
        parse_time(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an RFC 3339 time: {value!r}") from exc
    return value


def _line(c: CampaignLine) -> str:
    state = "ALERT" if c.alerted else c.status
    return (
        f"  {state:<9} {c.severity:<8} {c.score:.2f}  {c.accounts:>5} accounts  "
        f"{'+'.join(c.families):<40} {c.campaign_id}"
    )


def render(summary: ScanSummary) -> str:
    total = sum(summary.seconds.values())
    lines = [
        f"scan #{summary.run_id}: {summary.new_requests:,} new requests, "
        f"{summary.accounts_scored:,} accounts scored in {total:.1f}s",
        f"campaigns: {len(summary.new)} new, {len(summary.updated)} updated, "
        f"{summary.unchanged} unchanged, {summary.closed} closed; "
        f"{summary.alerts} alerted ({summary.new_alerts} new alerts)",
    ]
    if summary.new:
        lines.append("new campaigns")
        lines += [_line(c) for c in summary.new]
    if summary.updated:
        lines.append("updated campaigns")
        lines += [_line(c) for c in summary.updated]
    lines.append("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.seconds.items()))
    return "\n".join(lines)


@app.command()
@reports_errors
def scan(
    db: DbOption = DEFAULT_DB_PATH,
    since: Annotated[
        str | None, typer.Option(
            help="Recompute features from this time (RFC 3339): a backfill.", callback=check_time
        )
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Recompute features up to this time (RFC 3339).", callback=check_time)
    ] = None,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="Exit 1 when the scan raised new alerts.")
    ] = False,
    review_tables: Annotated[
        bool, typer.Option(
            "--review-tables/--no-review-tables",
            help="Rebuild the review dashboard's tables after the scan (the dashboard also "
            "rebuilds them on start when they lag behind).",
        )
    ] = True,
    memory_limit: Annotated[
        str, typer.Option(
            "--memory-limit",
            help="DuckDB's memory cap during the scan, e.g. 4GB; it spills to disk beyond it.",
        )
    ] = SCAN_MEMORY_LIMIT,
    lookback_days: Annotated[
        int, typer.Option(
            "--lookback-days", min=0,
            help="The account graph's look-back window in UTC days, ending with the newest "
            "stored request: it links accounts on the addresses, clients, prompts and active "
            "minutes of these days, and an account idle for longer leaves the graph (no edges "
            "or cluster) until it is active again; its own features and scores stay. "
            "0 reads the whole history.",
        )
    ] = GRAPH_LOOKBACK_DAYS,
    full_graph: Annotated[
        bool, typer.Option(
            "--full-graph",
            help="Redo the graph's stored daily activity sketches instead of reusing them "
            "(same result; --since does it too).",
        )
    ] = False,
) -> None:
    """Find distillation campaigns in what arrived since the last scan, and update alerts.

    Runs features, account graph, anomaly models, detection rules and campaign assembly;
    records the run in the store's `scan_runs`. Only one scan runs at a time (a second one
    exits with code 3).

    Example: distillguard scan --db logs.duckdb --fail-on-alert
    """
    start, end = parse_time(since), parse_time(until)
    if start and end and start >= end:
        raise DistillguardError("--since must be before --until")
    if not db.exists():
        raise DistillguardError(f"no store at {db}; ingest logs first")
    summary = run_scan(db, ScanOptions(
        since=start, until=end, review_tables=review_tables, memory_limit=memory_limit,
        graph_lookback_days=lookback_days or None, full_graph=full_graph,
    ))
    typer.echo(render(summary))
    if fail_on_alert and summary.new_alerts:
        raise typer.Exit(code=1)
