"""Fixtures for ingestion tests: a fresh store and builders of canonical records and files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ingest_records import lines_of

from detector import store


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = store.connect(tmp_path / "store.duckdb")
    yield connection
    connection.close()


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, records: Iterable[dict[str, Any] | str | bytes]) -> Path:
        path = tmp_path / name
        path.write_bytes(lines_of(records))
        return path

    return write
