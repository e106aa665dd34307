"""`distillguard evaluate`: score the last scan against ground truth, beside baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from detector import store
from detector.cli.app import DEFAULT_DB_PATH, DbOption, app, reports_errors
from detector.errors import InputError


@app.command("evaluate")
@reports_errors
def evaluate_command(
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="Ground truth CSV with header account_id,label,kind."),
    ] = None,
    truth_from_store: Annotated[
        str | None,
        typer.Option(
            "--truth-from-store",
            help="Read truth from this per-request label kept in requests.extra "
            "(e.g. campaign_label of a mapped peer dataset; null is benign).",
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the figures as JSON to this path."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the IsolationForest baseline.")] = 0,
    db: DbOption = DEFAULT_DB_PATH,
) -> None:
    """Score what the last scan stored against ground truth, beside naive baselines.

    Prints account-level precision, recall, F1, PR-AUC and ROC-AUC for the scan and for three baselines (top-k by volume, IsolationForest on volume features, CoT keyword match), per-campaign recall and alerts, alert purity and fragmentation, and the false-positive rate per benign population.

    Example: distillguard evaluate --truth sim/truth.csv --json eval.json

    Example: distillguard evaluate --truth-from-store campaign_label
    """
    if (truth is None) == (truth_from_store is None):
        typer.echo("error: give exactly one of --truth and --truth-from-store", err=True)
        raise typer.Exit(2)
    # imported here: the baselines pull in scikit-learn, which other commands never need
    from detector.evaluate import BaselineConfig, evaluate, load_truth, render_text
    from detector.evaluate.stored_truth import truth_from_store as truth_from_store_frame

    if truth is not None:
        truth_frame = load_truth(truth)  # fail on a bad truth file before touching the store
    con = store.connect(db, read_only=True)
    try:
        if truth_from_store is not None:
            truth_frame = truth_from_store_frame(con, truth_from_store)
        source = str(truth) if truth is not None else f"store:{truth_from_store}"
        report = evaluate(con, truth_frame, config=BaselineConfig(seed=seed), truth_source=source)
    finally:
        con.close()
    render_text(report)
    if json_out is not None:
        try:
            report.write_json(json_out)
        except OSError as exc:
            raise InputError(f"cannot write {json_out}: {exc.strerror or exc}") from exc
