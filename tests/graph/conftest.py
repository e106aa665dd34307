"""Fixtures of the graph tests: an empty store with a builder to fill it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from graph_store_builder import StoreBuilder

from detector import store


@pytest.fixture
def builder(tmp_path: Path) -> Iterator[StoreBuilder]:
    con = store.connect(tmp_path / "graph.duckdb")
    yield StoreBuilder(con)
    con.close()
