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
    otel = "otel"
    litellm = "litellm"


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
        typer.Option(
            "--format",
            help="Input format; auto detects by content and extension (OpenTelemetry OTLP JSON "
            "Lines and LiteLLM spend logs included).",
        ),
    ] = FormatName.auto,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN: read canonical FIELD from COLUMN (repeatable); "
            "request_id=@derive[:COL,...] derives stable ids.",
        ),
    ] = None,
    map_file: Annotated[
        Path | None,
        typer.Option("--map-file", help="YAML column mapping, e.g. data/mappings/glasswally.yaml."),
    ] = None,
    account_from: Annotated[
        list[str] | None,
        typer.Option(
            "--account-from",
            help="Attribute (otel; default user.id then enduser.id) or column (litellm; default "
            "user then api_key) naming the account; repeat for fallbacks.",
        ),
    ] = None,
    db: DbOption = DEFAULT_DB_PATH,
) -> None:
    """Load request logs into the store; bad records go to the quarantine, nothing is lost.

    Prints, per file and in total, records read = stored + duplicates + quarantined.
    Each file is loaded in one transaction; ingesting a file again stores nothing new.

    Example: distillguard ingest logs/2026-03-*.jsonl.gz --accounts accounts.csv --db logs.duckdb

    Example: distillguard ingest labeled_5k.jsonl --map-file data/mappings/glasswally.yaml
    """
    ingest_and_report(
        db,
        paths,
        accounts,
        fmt=fmt.value,
        maps=maps or [],
        map_file=map_file,
        account_from=account_from or [],
    )


def ingest_and_report(
    db: Path,
    paths: list[Path],
    accounts: Path | None,
    *,
    fmt: str = "auto",
    maps: list[str] | None = None,
    map_file: Path | None = None,
    account_from: list[str] | None = None,
) -> None:
    """Ingest request files (and an accounts file) into the store and print the counts."""
    from detector import store  # imported here: keeps `distillguard --help` fast
    from detector.ingest import check_readable, ingest_accounts
    from detector.ingest.mapping import load_mapping, parse_map_options
    from detector.ingest.sources import SourceOptions, account_keys, ingest_sources

    mapping = load_mapping(map_file) if map_file is not None else None
    if maps:
        extra = parse_map_options(maps)
        mapping = mapping.merged(extra) if mapping is not None else extra
    options = SourceOptions(fmt=fmt, mapping=mapping, account_keys=account_keys(account_from))
    check_readable([*paths, *([accounts] if accounts else [])])  # before the store is touched
    progress = stderr_is_tty()
    con = store.connect(db)
    skipped: dict[str, int] = {}
    try:
        sourced = ingest_sources(con, paths, options, progress=progress)
        results = [item.result for item in sourced]
        skipped = {item.result.source: item.skipped for item in sourced if item.skipped}
        if accounts is not None:
            fmt = "auto" if fmt in ("otel", "litellm") else fmt
            results.append(ingest_accounts(con, accounts, fmt=fmt, progress=progress))
    finally:
        con.close()
    for result in results:
        label = f"{result.source} ({result.kind}, {result.format})"
        typer.echo(_line(label, result.read, result.stored, result.duplicates, result.quarantined))
        if result.source in skipped:
            typer.echo(f"  skipped {skipped[result.source]:,} spans that are not GenAI inference")
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
