"""Hand-built stores for the evaluation tests: requests, scan outputs and truth files."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from detector import store

START = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass
class Account:
    """One account of a hand-made scenario: its truth, its traffic, and what the scan said."""

    account_id: str
    label: str  # "benign" or a campaign id
    kind: str
    requests: int = 5
    score: float = 0.0
    flagged: bool = False
    cot_share: float = 0.0  # share of prompts with a CoT phrase
    ips: int = 1
    in_truth: bool = True
    scored: bool = True


@dataclass
class Scenario:
    """Accounts plus the scan's campaigns (`campaign_id -> (alerted, member ids)`)."""

    accounts: list[Account] = field(default_factory=list)
    campaigns: dict[str, tuple[bool, Sequence[str]]] = field(default_factory=dict)

    def add(self, prefix: str, count: int, label: str, kind: str, **values: object) -> list[str]:
        ids = [f"{prefix}-{index:04d}" for index in range(count)]
        self.accounts.extend(Account(i, label, kind, **values) for i in ids)  # type: ignore[arg-type]
        return ids


def requests_frame(accounts: Sequence[Account]) -> pl.DataFrame:
    """Every account's requests, built column-wise: one minute apart, IPs cycled per account."""
    counts = np.array([a.requests for a in accounts], dtype=np.int64)
    owner = np.repeat(np.arange(len(accounts)), counts)
    position = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    ips = np.array([a.ips for a in accounts])[owner]
    cot_cut = np.round(np.array([a.cot_share for a in accounts]) * counts).astype(np.int64)[owner]
    account_ids = np.array([a.account_id for a in accounts], dtype=object)[owner]
    prompts = np.where(
        position < cot_cut,
        "Solve 17 * 23 and show your reasoning step by step.",
        "What is a good name for a grey cat?",
    )
    return pl.DataFrame(
        {
            "request_id": [f"r{n}" for n in range(owner.size)],
            "timestamp": [START + timedelta(minutes=int(p)) for p in position],
            "account_id": account_ids,
            "client_ip": [
                f"10.{o // 250}.{o % 250}.{p % i}"
                for o, p, i in zip(owner, position, ips, strict=True)
            ],
            "model": "model-a",
            "prompt": prompts,
            "input_tokens": 100,
            "output_tokens": 300,
            "ingest_run_id": 1,
        }
    )


def build_store(path: Path, scenario: Scenario) -> duckdb.DuckDBPyConnection:
    """A migrated store holding the scenario's requests, account scores and campaigns."""
    con = store.connect(path)
    con.register("scenario_requests", requests_frame(scenario.accounts).to_arrow())
    con.execute("INSERT INTO requests BY NAME SELECT * FROM scenario_requests")
    con.unregister("scenario_requests")
    scored = [a for a in scenario.accounts if a.scored]
    # A registered frame: executemany is slow in DuckDB for thousands of rows.
    scores = pl.DataFrame(
        {
            "account_id": [a.account_id for a in scored],
            "score": [a.score for a in scored],
            "flagged": [a.flagged for a in scored],
        },
        schema={"account_id": pl.String, "score": pl.Float64, "flagged": pl.Boolean},
    )
    con.register("scenario_scores", scores.to_arrow())
    con.execute(
        "INSERT INTO account_scores (account_id, score, campaign_id, flagged, scan_run_id) "
        "SELECT account_id, score, NULL, flagged, 1 FROM scenario_scores"
    )
    con.unregister("scenario_scores")
    now = datetime(2026, 3, 9, tzinfo=UTC)
    for campaign_id, (alerted, members) in scenario.campaigns.items():
        con.execute(
            "INSERT INTO campaigns (campaign_id, alert_id, title, severity, score, alerted, "
            "request_count, created_at, updated_at) VALUES (?, ?, ?, 'high', 0.9, ?, 0, ?, ?)",
            [campaign_id, f"alert-{campaign_id}", f"campaign {campaign_id}", alerted, now, now],
        )
        con.execute(
            "INSERT INTO campaign_accounts SELECT ?, unnest(?::VARCHAR[])",
            [campaign_id, list(members)],
        )
    con.execute(
        "INSERT INTO scan_runs (run_id, started_at, finished_at, status) VALUES (1, ?, ?, 'done')",
        [now, now],
    )
    return con


def write_truth(path: Path, accounts: Sequence[Account]) -> Path:
    """`truth.csv` for the accounts that are in the truth."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account_id", "label", "kind"])
        writer.writerows([a.account_id, a.label, a.kind] for a in accounts if a.in_truth)
    return path


@dataclass
class Built:
    """A scenario's open store and its truth file."""

    con: duckdb.DuckDBPyConnection
    db: Path
    truth: Path


@pytest.fixture
def build(tmp_path: Path) -> Iterator[Callable[..., Built]]:
    """`build(scenario)` writes the store and truth file under tmp_path; closes stores after."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def _build(scenario: Scenario, name: str = "store") -> Built:
        db = tmp_path / f"{name}.duckdb"
        con = build_store(db, scenario)
        opened.append(con)
        return Built(con, db, write_truth(tmp_path / f"{name}-truth.csv", scenario.accounts))

    yield _build
    for con in opened:
        con.close()


def perfect_scenario() -> Scenario:
    """Three campaigns caught exactly, one alert each; benign populations untouched.

    Batch-job accounts send far more requests than anyone, and eval-harness accounts use
    CoT phrases in most prompts: the volume and keyword baselines should trip over them.
    """
    scenario = Scenario()
    for name, kind, size in (
        ("hydra", "hydra", 12),
        ("trace", "reasoning_trace", 8),
        ("small", "targeted", 4),
    ):
        cot = 0.9 if kind == "reasoning_trace" else 0.0
        ids = scenario.add(
            name,
            size,
            f"camp-{name}",
            kind,
            requests=40,
            score=0.9,
            flagged=True,
            cot_share=cot,
            ips=4,
        )
        scenario.campaigns[f"scan-{name}"] = (True, ids)
    scenario.add("casual", 60, "benign", "casual", requests=6, score=0.1)
    scenario.add("batch", 3, "benign", "enterprise_batch", requests=600, score=0.2)
    scenario.add("evalh", 4, "benign", "eval_harness", requests=30, score=0.3, cot_share=0.8)
    scenario.add("nat", 20, "benign", "university_nat", requests=8, score=0.1)
    return scenario


@pytest.fixture
def scenario() -> Scenario:
    """An empty scenario to fill in a test."""
    return Scenario()


@pytest.fixture
def perfect() -> Scenario:
    """The perfect-detection scenario (see `perfect_scenario`)."""
    return perfect_scenario()
