"""`distillguard ingest`: load request logs (and account metadata) into the store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from detector.cli.app import DEFAULT_DB_PATH, DbOption, app, reports_errors, stderr_is_tty


class FormatName(StrEnum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


def _line(label: str, read: int, stored: int, duplicates: int, quarantined: int) -> str:
    return f"{label}: read {read:,}  stored {stored:,}  duplicates {duplicates:,}  quarantined {quarantined:,}"


@app.command("ingest")
@reports_errors
def ingest_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Request log files: .jsonl, .jsonl.gz, .ndjson, .csv, .parquet."),
    ],
    accounts: Annotated[
        Path | None,
        typer.Option("--accounts", help="Account metadata file (JSONL, CSV or Parquet)."),
    ] = None,
    fmt: Annotated[
        FormatName,
        typer.Option("--format", help="Input format; auto detects by content and extension."),
    ] = FormatName.auto,
    db: DbOption = DEFAULT_DB_PATH,
) -> None:
    """Load request logs into the store; bad records go to the quarantine, nothing is lost.

    Prints, per file and in total, records read = stored + duplicates + quarantined.
    Each file is loaded in one transaction; ingesting a file again stores nothing new.

    Example: distillguard ingest logs/2026-03-*.jsonl.gz --accounts accounts.csv --db logs.duckdb
    """
    ingest_and_report(db, paths, accounts, fmt=fmt.value)


def ingest_and_report(
    db: Path, paths: list[Path], accounts: Path | None, *, fmt: str = "auto"
) -> None:
    """Ingest request files (and an accounts file) into the store and print the counts."""
    from detector import store  # imported here: keeps `distillguard --help` fast
    from detector.ingest import check_readable, ingest_accounts, ingest_files

    check_readable([*paths, *([accounts] if accounts else [])])  # before the store is touched
    progress = stderr_is_tty()
    con = store.connect(db)
    try:
        results = ingest_files(con, paths, fmt=fmt, progress=progress)
        if accounts is not None:
            results.append(ingest_accounts(con, accounts, fmt=fmt, progress=progress))
    finally:
        con.close()
    for result in results:
        label = f"{result.source} ({result.kind}, {result.format})"
        typer.echo(_line(label, result.read, result.stored, result.duplicates, result.quarantined))
    requests = [r for r in results if r.kind == "requests"]
    if len(requests) > 1:
        typer.echo(
            _line(
                f"total ({len(requests)} files)",
                sum(r.read for r in requests),
                sum(r.stored for r in requests),
                sum(r.duplicates for r in requests),
                sum(r.quarantined for r in requests),
            )
        )
    if any(r.quarantined for r in results):
        typer.echo(
            "quarantined records: SELECT source, line, reason FROM quarantine ORDER BY ingest_run_id DESC"
        )
