"""`distillguard export`: campaign alerts or account scores as JSONL, CSV, OCSF or STIX 2.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector import store
from detector.cli.app import DEFAULT_DB_PATH, DbOption, app, reports_errors
from detector.cli.scan_cmd import check_time, parse_time
from detector.errors import DistillguardError
from detector.export import Format, Level, load_alerts, new_alerts, render
from detector.export.output import write_chunks
from detector.export.webhook import check_url, deliver, failure_message


def _check_status(value: str | None) -> str | None:
    if value is not None and value not in ("new", "confirmed", "dismissed"):
        raise typer.BadParameter(f"{value!r} is not one of new, confirmed, dismissed")
    return value


def _check_webhook(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
@reports_errors
def export(
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)],
    db: DbOption = DEFAULT_DB_PATH,
    level: Annotated[
        Level, typer.Option(help="campaign: one record per alert; account: one per scored account.")
    ] = Level.campaign,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (atomically) instead of stdout.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only alerts last seen at or after this time (RFC 3339).", callback=check_time),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only alerts with this status: new, confirmed or dismissed.", callback=_check_status),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(help="Also POST each new alert as JSON to this http(s) URL.", callback=_check_webhook),
    ] = None,
) -> None:
    """Write campaign alerts (or account scores) for a SIEM, a ticketing system or a sharing partner.

    Campaign level exports alerted campaigns and those with an analyst's verdict, ordered by
    last sighting. jsonl and csv follow the data contract; ocsf writes one OCSF 1.8 Detection
    Finding per line; stix writes one STIX 2.1 bundle with stable ids. Every format carries the
    MITRE ATLAS technique AML.T0024.002. A webhook that still fails after 3 tries exits 3.

    Example:

        distillguard export --format ocsf --since 2026-03-01 --out findings.ocsf.jsonl
    """
    if level is Level.account and (since or status or webhook or fmt in (Format.ocsf, Format.stix)):
        # a usage error (exit 2); raised as an Exit since `reports_errors` maps exceptions to 3
        typer.echo(
            "distillguard export: error: --level account supports --format jsonl|csv only,"
            " without --since/--status/--webhook",
            err=True,
        )
        raise typer.Exit(code=2)
    if not db.exists():
        raise DistillguardError(f"no store at {db}")
    con = store.connect(db, read_only=True)
    try:
        start = parse_time(since)
        write_chunks(render(con, fmt, level, since=start, status=status), out)
        to_push = new_alerts(load_alerts(con, since=start, status=status)) if webhook else []
    finally:
        con.close()
    if webhook:
        problem = failure_message(deliver(webhook, to_push))
        if problem:
            raise DistillguardError(problem)
