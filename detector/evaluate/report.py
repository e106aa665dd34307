"""The evaluation report: a frozen dataclass, its JSON form and its text form.

JSON keys are stable (documented in the README section); figures that are undefined (NaN)
are written as `null` and explained in `notes`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from detector.evaluate.campaigns import AlertOutcome, AlertSummary, CampaignOutcome
from detector.evaluate.metrics import AccountMetrics
from detector.evaluate.scan_results import ScanRun

REPORT_SCHEMA = "distillguard.evaluate/1"
MAX_ALERT_ROWS = 30
PIPE_WIDTH = 120


@dataclass(frozen=True)
class Coverage:
    """How the truth and the store overlap, and how the evaluation universe was formed."""

    universe_accounts: int
    truth_accounts: int
    attack_accounts: int
    benign_accounts: int
    true_campaigns: int
    scored_accounts: int
    truth_accounts_unscored: int
    attack_accounts_unscored: int
    truth_accounts_without_requests: int
    scored_accounts_not_in_truth: int
    request_accounts_not_in_truth: int
    attack_requests: int


@dataclass(frozen=True)
class EvaluationReport:
    """Everything `distillguard evaluate` prints, for the scan and for the baselines."""

    truth_source: str
    last_scan_run: ScanRun | None
    coverage: Coverage
    scan: AccountMetrics
    campaigns: tuple[CampaignOutcome, ...]
    alerts: tuple[AlertOutcome, ...]
    alert_summary: AlertSummary
    baseline_k: int
    baseline_k_source: str  # "scan_flagged" or "true_attack_accounts"
    baselines: tuple[AccountMetrics, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: NaN becomes None, tuples become lists."""
        data = {"schema": REPORT_SCHEMA, **dataclasses.asdict(self)}
        return _json_ready(data)

    def write_json(self, path: str | Path) -> None:
        """Write `to_dict()` as indented JSON (valid JSON: no NaN)."""
        Path(path).write_text(
            json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )


def _json_ready(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}%"


def render_text(report: EvaluationReport, out: IO[str] | None = None) -> None:
    """Print the report as readable tables (stdout by default; 120 columns when not a terminal)."""
    console = Console(file=out, highlight=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    cov = report.coverage
    run = report.last_scan_run
    console.print(
        f"Evaluation against {report.truth_source}: {cov.truth_accounts} truth accounts "
        f"({cov.attack_accounts} attack in {cov.true_campaigns} campaigns, "
        f"{cov.benign_accounts} benign); universe {cov.universe_accounts} accounts; "
        f"last scan run {run.run_id if run else 'unknown'}"
        + (f" ({run.status}, {run.finished_at or run.started_at})" if run else "")
    )
    console.print(_methods_table(report))
    console.print(_campaigns_table(report))
    for campaign in report.campaigns:
        if campaign.alerts:
            covering = ", ".join(f"{a.campaign_id} ({a.accounts})" for a in campaign.alerts)
            console.print(f"  {campaign.label} is in alert(s): {covering}")
    summary = report.alert_summary
    console.print(
        f"Alerts: {summary.alerts} ({summary.alerts_majority_benign} with a benign majority); "
        f"purity mean {_fmt(summary.purity_mean)}, min {_fmt(summary.purity_min)}"
    )
    console.print(
        f"Campaigns alerted: {summary.campaigns_alerted} of {summary.campaigns}; fragmentation "
        f"mean {_fmt(summary.fragmentation_mean, 2)}, max {summary.fragmentation_max}"
    )
    if report.alerts:
        console.print(_alerts_table(report))
    console.print(_populations_table(report))
    for note in report.notes:
        console.print(f"note: {note}")


def _methods_table(report: EvaluationReport) -> Table:
    table = Table(
        title=f"Account level (baselines at k = {report.baseline_k}, {report.baseline_k_source})"
    )
    for column in (
        "method",
        "flagged",
        "TP",
        "FP",
        "FN",
        "precision",
        "recall",
        "F1",
        "PR-AUC",
        "ROC-AUC",
        "FPR",
        "req. recall",
    ):
        table.add_column(column, justify="left" if column == "method" else "right")
    for metrics in (report.scan, *report.baselines):
        table.add_row(
            metrics.method,
            str(metrics.flagged),
            str(metrics.true_positives),
            str(metrics.false_positives),
            str(metrics.false_negatives),
            _fmt(metrics.precision),
            _fmt(metrics.recall),
            _fmt(metrics.f1),
            _fmt(metrics.average_precision),
            _fmt(metrics.roc_auc),
            _pct(metrics.false_positive_rate),
            _fmt(metrics.request_weighted_recall),
        )
    return table


def _campaigns_table(report: EvaluationReport) -> Table:
    table = Table(title="True campaigns (scan)")
    for column in (
        "campaign",
        "kind",
        "accounts",
        "flagged",
        "recall",
        "req. recall",
        "alerted",
        "alerts",
    ):
        table.add_column(
            column,
            justify="right"
            if column in {"accounts", "flagged", "recall", "req. recall", "alerts"}
            else "left",
        )
    for campaign in report.campaigns:
        table.add_row(
            campaign.label,
            campaign.kind,
            str(campaign.accounts),
            str(campaign.flagged_accounts),
            _fmt(campaign.recall),
            _fmt(campaign.request_weighted_recall),
            "yes" if campaign.alerted else "NO",
            str(campaign.fragmentation),
        )
    return table


def _alerts_table(report: EvaluationReport) -> Table:
    shown = sorted(report.alerts, key=lambda alert: (alert.purity, alert.campaign_id))
    title = "Alerts (least pure first)"
    if len(shown) > MAX_ALERT_ROWS:
        title += f", {MAX_ALERT_ROWS} of {len(shown)} shown"
    table = Table(title=title)
    for column in ("alert campaign", "accounts", "majority label", "purity", "benign"):
        table.add_column(
            column, justify="left" if column in {"alert campaign", "majority label"} else "right"
        )
    for alert in shown[:MAX_ALERT_ROWS]:
        table.add_row(
            alert.campaign_id,
            str(alert.accounts),
            alert.majority_label,
            _fmt(alert.purity),
            str(alert.benign_accounts),
        )
    return table


def _populations_table(report: EvaluationReport) -> Table:
    methods = (report.scan, *report.baselines)
    table = Table(title="False-positive rate per benign population")
    table.add_column("population")
    table.add_column("accounts", justify="right")
    for metrics in methods:
        table.add_column(metrics.method, justify="right")
    by_method = [{rate.kind: rate for rate in metrics.populations} for metrics in methods]
    for rate in report.scan.populations:
        cells = []
        for rates in by_method:
            other = rates[rate.kind]
            cells.append(f"{_pct(other.false_positive_rate)} ({other.flagged})")
        table.add_row(rate.kind, str(rate.accounts), *cells)
    return table
