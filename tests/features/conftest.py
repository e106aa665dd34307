"""Fixtures for the feature stage: a fresh store, and constant capability/CoT labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from detector import store
from detector.features import pipeline


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = store.connect(tmp_path / "features.duckdb")
    yield connection
    connection.close()


@pytest.fixture
def plain_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the capability and CoT models by constants: these tests are about volume and templates."""

    def labels(frame: pl.DataFrame, *texts: object) -> pl.DataFrame:
        return frame.select(
            "request_id",
            pl.lit("other").alias("capability"),
            pl.lit(1.0).alias("capability_confidence"),
            pl.lit(0.0).alias("cot_score"),
        )

    monkeypatch.setattr(pipeline, "_request_labels", labels)
    monkeypatch.setattr(pipeline, "_account_capability", lambda con: None)
