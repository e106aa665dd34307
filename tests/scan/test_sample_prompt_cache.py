"""Sample prompts go through `campaign_sample_cache`: a rescan reuses them without lookups and
publishes the same evidence as fetching them again."""

from __future__ import annotations

import json

import pytest

import detector.review.prompts as prompts_module
from detector import store
from detector.scan import ScanOptions, run_scan

OPTIONS = ScanOptions(review_tables=False)


def _evidence(db) -> dict[str, list[str]]:
    con = store.connect(db)
    try:
        rows = con.execute("SELECT campaign_id, sample_prompts FROM campaign_evidence").fetchall()
    finally:
        con.close()
    return {cid: json.loads(samples) for cid, samples in rows}


@pytest.fixture
def counted_lookups(monkeypatch):
    """Count the pointers handed to the point lookups."""
    asked: list[int] = []
    original = prompts_module.fetch_prompts

    def counting(con, pointers, **kwargs):
        pointers = list(pointers)
        asked.append(len(pointers))
        return original(con, pointers, **kwargs)

    monkeypatch.setattr(prompts_module, "fetch_prompts", counting)
    return asked


def test_rescan_reuses_cached_samples(built_store, stages, counted_lookups):
    db, _ = built_store
    run_scan(db, OPTIONS, stages)
    first = _evidence(db)
    assert any(first.values()), "the attack campaign carries sample prompts"
    assert sum(counted_lookups) > 0
    con = store.connect(db)
    try:
        cached = con.execute(
            "SELECT c.request_id, c.prompt, r.prompt FROM campaign_sample_cache c"
            " JOIN requests r USING (request_id)"
        ).fetchall()
    finally:
        con.close()
    # the cache holds excerpts of the very requests it names
    assert cached and all(full.startswith(excerpt) for _, excerpt, full in cached)
    counted_lookups.clear()
    run_scan(db, OPTIONS, stages)
    assert sum(counted_lookups) == 0  # every sample came from the cache
    assert _evidence(db) == first


def test_cache_of_another_excerpt_length_or_lost_cache_is_refetched(built_store, stages, counted_lookups):
    db, _ = built_store
    run_scan(db, OPTIONS, stages)
    first = _evidence(db)
    con = store.connect(db)
    try:
        con.execute("UPDATE campaign_sample_cache SET chars = chars + 1, prompt = 'stale'")
    finally:
        con.close()
    counted_lookups.clear()
    run_scan(db, OPTIONS, stages)
    assert sum(counted_lookups) > 0
    assert _evidence(db) == first
    con = store.connect(db)
    try:
        con.execute("DROP TABLE campaign_sample_cache")
    finally:
        con.close()
    run_scan(db, OPTIONS, stages)
    assert _evidence(db) == first
