"""`distillguard status`: a summary of what the store holds."""

from __future__ import annotations

import typer

from detector import store
from detector.cli.app import DEFAULT_DB_PATH, DbOption, app, reports_errors
from detector.summary import StoreSummary, store_summary


def render(summary: StoreSummary) -> str:
    span = (
        f"{summary.first_request:%Y-%m-%d %H:%M} .. {summary.last_request:%Y-%m-%d %H:%M} UTC"
        if summary.first_request and summary.last_request
        else "-"
    )
    lines = [
        f"requests      {summary.requests:>12,}   ({span})",
        f"accounts      {summary.accounts_seen:>12,}   seen in requests; "
        f"{summary.accounts_with_metadata:,} with metadata",
        f"models        {summary.models:>12,}",
        f"quarantined   {summary.quarantined:>12,}",
    ]
    lines += [f"  {n:>10,}  {reason}" for reason, n in summary.quarantine_reasons]
    if summary.network_classes:
        lines.append("networks")
        lines += [f"  {n:>10,}  {cls}" for cls, n in summary.network_classes]
    lines.append(f"campaigns     {summary.campaigns:>12,}   ({summary.alerts:,} alerted)")
    if summary.recent_ingests:
        lines.append("recent ingests (read = stored + duplicates + quarantined)")
        lines += [
            f"  #{r.run_id:<4} {r.status:<8} read {r.read:,} = {r.stored:,} + {r.duplicates:,}"
            f" + {r.quarantined:,}  {r.source}"
            for r in summary.recent_ingests
        ]
    return "\n".join(lines)


@app.command()
@reports_errors
def status(db: DbOption = DEFAULT_DB_PATH) -> None:
    """Summarize the store: requests, accounts, quarantine reasons, recent ingests, campaigns.

    Example: distillguard status --db logs.duckdb
    """
    con = store.connect(db, read_only=True)
    try:
        typer.echo(render(store_summary(con)))
    finally:
        con.close()
