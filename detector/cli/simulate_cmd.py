"""`distillguard simulate`: write labelled synthetic traffic."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from detector.cli.app import app, reports_errors, stderr_is_tty


class ScaleName(StrEnum):
    tiny = "tiny"
    small = "small"
    large = "large"


@app.command("simulate")
@reports_errors
def simulate_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Directory to write requests, accounts.jsonl and truth.csv into."
        ),
    ],
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same bytes.")] = 0,
    scale: Annotated[
        ScaleName, typer.Option(help="tiny (~4k requests), small (~250k), large (~10M).")
    ] = ScaleName.small,
    days: Annotated[
        int | None, typer.Option(help="Days to simulate (default: the scale's own).", min=1)
    ] = None,
    parquet: Annotated[
        bool, typer.Option("--parquet", help="Write requests.parquet instead of JSONL.")
    ] = False,
    max_requests: Annotated[
        int | None,
        typer.Option("--max-requests", help="Stop after this many requests (partial runs).", min=1),
    ] = None,
    bundled_prompts: Annotated[
        bool,
        typer.Option(
            "--bundled-prompts", help="Use only the small prompt set bundled in data/prompts."
        ),
    ] = False,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="Also ingest the generated requests and accounts into this store."
        ),
    ] = None,
) -> None:
    """Write labelled synthetic traffic: benign populations and distillation campaigns.

    Writes requests.jsonl (or requests.parquet), accounts.jsonl, truth.csv and manifest.json.

    Example: distillguard simulate --out sim --seed 7 --scale small --db sim.duckdb
    """
    from detector.simulate import simulate  # imported here: keeps `distillguard --help` fast

    def progress(day: int, total: int, rows: int) -> None:
        if stderr_is_tty():
            typer.echo(f"\rday {day}/{total}  {rows:,} requests", err=True, nl=False)

    summary = simulate(
        out,
        seed=seed,
        scale=scale.value,
        days=days,
        parquet=parquet,
        max_requests=max_requests,
        use_packages=not bundled_prompts,
        progress=progress,
    )
    if stderr_is_tty():
        typer.echo("", err=True)
    campaigns = sum(1 for label in summary.accounts_by_label if label != "benign")
    typer.echo(
        f"wrote {summary.requests:,} requests from {summary.accounts:,} accounts "
        f"({campaigns} campaigns, {summary.accounts - summary.accounts_by_label.get('benign', 0):,} campaign accounts) "
        f"over {summary.days} days in {summary.seconds:.1f} s"
    )
    typer.echo(f"  requests: {summary.requests_path}")
    typer.echo(f"  accounts: {summary.accounts_path}")
    typer.echo(f"  truth:    {summary.truth_path}")
    typer.echo(
        f"  model {summary.new_model} released {summary.release}; prompts from "
        + "; ".join(f"{k}: {v}" for k, v in sorted(summary.prompt_sources.items()))
    )
    if db is not None:
        from detector.cli.ingest_cmd import ingest_and_report

        ingest_and_report(db, [summary.requests_path], summary.accounts_path)
