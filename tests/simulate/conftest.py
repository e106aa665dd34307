"""One tiny simulation per test session, loaded once, with its labels joined on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from detector.simulate import SimulationSummary, simulate


@dataclass
class Simulated:
    summary: SimulationSummary
    requests: pl.DataFrame  # requests with `label` and `kind` joined from truth.csv
    accounts: pl.DataFrame
    truth: pl.DataFrame
    manifest: dict[str, object]
    raw_lines: list[str]

    def kind(self, kind: str) -> pl.DataFrame:
        return self.requests.filter(pl.col("kind") == kind)


def load(out: Path, summary: SimulationSummary) -> Simulated:
    raw = (out / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    requests = pl.read_ndjson(out / "requests.jsonl", infer_schema_length=None)
    truth = pl.read_csv(out / "truth.csv")
    requests = requests.join(truth, on="account_id", how="left").with_columns(
        ts=pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_zone="UTC")
    )
    return Simulated(
        summary=summary,
        requests=requests,
        accounts=pl.read_ndjson(out / "accounts.jsonl"),
        truth=truth,
        manifest=json.loads((out / "manifest.json").read_text(encoding="utf-8")),
        raw_lines=raw,
    )


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    """Ten days at the tiny scale (room for the model release and the pivot after it)."""
    out = tmp_path_factory.mktemp("tiny")
    summary = simulate(out, seed=11, scale="tiny", days=10, use_packages=False)
    return load(out, summary)
