"""Fixtures: one scanned and precomputed review store per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from review_store import Population, build_review_store


@pytest.fixture(scope="session")
def review_master(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Population]:
    db = tmp_path_factory.mktemp("review") / "review.duckdb"
    return db, build_review_store(db)


@pytest.fixture
def review_db(review_master: tuple[Path, Population], tmp_path: Path) -> Path:
    """A private copy of the store, so a test's verdicts stay its own."""
    db = tmp_path / "store.duckdb"
    shutil.copy(review_master[0], db)
    return db


@pytest.fixture
def population(review_master: tuple[Path, Population]) -> Population:
    return review_master[1]
