"""Fingerprints of distinct raw texts: the text-key memo skips masking and sketching, never
changes a fingerprint or a stored template, whichever store the process saw before."""

from __future__ import annotations

import random
from collections.abc import Iterator

import duckdb
import numpy as np
import polars as pl
import pytest

from detector.features import templates
from detector.features.distinct import distinct_texts
from detector.features.normalize import masked_template_text
from detector.features.sketch import Sketches, sketch_texts
from detector.features.templates import (
    assign_fingerprints,
    clear_template_hash_memo,
    ensure_template_tables,
    fingerprint_texts,
)

SHAPES = (
    "Grade the answer {a} to question {q} against the rubric and explain every step.",
    "Please grade answer {a} for the question {q} using the rubric, explaining each step.",
    "Write a Python function {a} that parses the log file at {q} and counts failures.",
    "What should I cook tonight with {a} and {q}?",
    "Translate into German: the meeting about {q} moved to {a}.",
)


def _texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [
        rng.choice(SHAPES).format(a=f"item_{rng.randint(1, 50)}", q=f'"case {rng.randint(1, 9)}"')
        for _ in range(n)
    ]


def _store() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_template_tables(con)
    return con


def _tables(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[object, ...]], ...]:
    return (
        con.execute("SELECT * FROM templates ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM template_bands ORDER BY ALL").fetchall(),
    )


@pytest.fixture(autouse=True)
def cold_memo() -> Iterator[None]:
    clear_template_hash_memo()
    yield
    clear_template_hash_memo()


@pytest.fixture
def sketched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts of texts handed to the sketch kernel, per call."""
    counts: list[int] = []

    def counting(texts: pl.Series) -> Sketches:
        counts.append(texts.len())
        return sketch_texts(texts)

    monkeypatch.setattr(templates, "sketch_texts", counting)
    return counts


def test_fingerprint_texts_equals_masking_then_assigning() -> None:
    batches = [_texts(1, 300), _texts(2, 300) + _texts(1, 50)]
    by_masking, by_texts = _store(), _store()
    for batch in batches:
        distinct = distinct_texts(pl.Series(batch))
        expected = assign_fingerprints(by_masking, "prompt", masked_template_text(distinct.values))
        clear_template_hash_memo()  # the second store starts cold, as a fresh process would
        got = fingerprint_texts(by_texts, "prompt", distinct)
        assert got.rows.equals(expected.rows)
        assert (got.new_templates, got.new_components) == (
            expected.new_templates,
            expected.new_components,
        )
    assert _tables(by_texts) == _tables(by_masking)


def test_known_texts_are_neither_masked_nor_sketched_again(sketched: list[int]) -> None:
    con = _store()
    batch = distinct_texts(pl.Series(_texts(3, 200)))
    first = fingerprint_texts(con, "prompt", batch)
    assert sum(sketched) > 0
    sketched.clear()
    again = fingerprint_texts(con, "prompt", batch)
    assert sum(sketched) == 0
    assert again.rows.equals(first.rows)
    assert again.new_templates == 0


def test_a_warm_memo_on_another_store_stores_the_same_templates(sketched: list[int]) -> None:
    texts = distinct_texts(pl.Series(_texts(4, 200)))
    cold = _store()
    expected = fingerprint_texts(cold, "prompt", texts)
    sketched.clear()
    warm = _store()  # the memo knows every text, this store none of their templates
    got = fingerprint_texts(warm, "prompt", texts)
    assert sum(sketched) > 0  # the signatures of the templates it lacks had to be recomputed
    assert got.rows.equals(expected.rows)
    assert got.new_templates == expected.new_templates > 0
    assert _tables(warm) == _tables(cold)


def test_assign_fingerprints_memo_skips_sketching_known_masked_texts(sketched: list[int]) -> None:
    con = _store()
    masked = masked_template_text(pl.Series(_texts(5, 100)))
    first = assign_fingerprints(con, "prompt", masked)
    sketched.clear()
    again = assign_fingerprints(con, "prompt", masked)
    assert sum(sketched) == 0
    assert again.rows.equals(first.rows)
    assert first.rows.height == masked.len()


def test_memo_forgets_past_its_limit_and_stays_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "_MEMO_LIMIT", 5)
    memo = templates._HashMemo()
    keys = np.array([9, 3, 7], dtype=np.uint64)
    memo.add(keys, keys * np.uint64(10))
    found, hashes = memo.lookup(np.array([7, 4, 3], dtype=np.uint64))
    assert found.tolist() == [True, False, True]
    assert hashes[found].tolist() == [70, 30]
    memo.add(np.array([1, 2, 4], dtype=np.uint64), np.array([11, 22, 44], dtype=np.uint64))
    assert len(memo.keys) == 3  # 6 > 5: the old entries were dropped
    found, hashes = memo.lookup(np.array([9, 4], dtype=np.uint64))
    assert found.tolist() == [False, True]
    assert hashes[1] == 44


def test_empty_batches() -> None:
    con = _store()
    empty = distinct_texts(pl.Series([], dtype=pl.String))
    assert fingerprint_texts(con, "prompt", empty).rows.height == 0
    assert assign_fingerprints(con, "prompt", pl.Series([], dtype=pl.String)).rows.height == 0
