"""Fixtures for the export tests: a hand-built store and an open read-only connection to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from export_store import build_store

from detector import store


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return build_store(tmp_path / "export.duckdb")


@pytest.fixture
def con(store_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = store.connect(store_path, read_only=True)
    yield connection
    connection.close()
