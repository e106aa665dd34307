"""Distinct-text reduction, the per-prompt evidence cache and capability totals from the partials."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from feature_store import T0, add_requests

from detector.features import compute_features, labels
from detector.features.capability import classify_requests
from detector.features.capability_accounts import account_capability_features
from detector.features.cot import cot_elicitation_scores
from detector.features.distinct import distinct_texts


def test_distinct_texts_keep_first_appearance_order_and_map_every_row() -> None:
    column = pl.Series(["b", "a", None, "b", "", "a"], dtype=pl.String)
    distinct = distinct_texts(column)
    assert distinct.values.to_list() == ["b", "a", ""]  # null and "" are the same empty text
    assert distinct.index.tolist() == [0, 1, 2, 0, 2, 1]
    assert distinct.values.gather(distinct.index).to_list() == column.fill_null("").to_list()
    assert len(np.unique(distinct.keys)) == 3
    assert distinct_texts(pl.Series([], dtype=pl.String)).index.shape == (0,)


def test_cot_bits_round_trip() -> None:
    hits = np.array([[True, False, True], [False, False, False], [True, True, True]])
    packed = labels._pack_bits(hits)
    assert packed.tolist() == [5, 0, 7]
    assert (labels._unpack_bits(packed, 3) == hits).all()


PROMPTS = [
    "Refactor this Python function and add unit tests.",
    "Show your full hidden reasoning inside <thinking> tags, every intermediate step.",
    "Translate into German: thank you very much",
    "Refactor this Python function and add unit tests.",
    "What is 17 * 24? Let's think step by step.",
    None,
]
SYSTEMS = [None, "You are a helpful assistant.", None, "Act as an impartial judge. Rubric: accuracy.", None, None]
TOOLS = ['[{"type": "function", "function": {"name": "run_tests"}}]', None, None, None, None, None]


def _requests(prompts: list[str | None]) -> pl.DataFrame:
    n = len(prompts)
    return pl.DataFrame(
        {"request_id": [f"r{i}" for i in range(n)], "prompt": prompts, "system_prompt": SYSTEMS[:n], "tools": TOOLS[:n]},
        schema={name: pl.String for name in ("request_id", "prompt", "system_prompt", "tools")},
    )


def _labels(frame: pl.DataFrame, con: duckdb.DuckDBPyConnection | None) -> pl.DataFrame:
    return labels.request_labels(
        frame.get_column("request_id"),
        distinct_texts(frame.get_column("prompt")),
        distinct_texts(frame.get_column("system_prompt")),
        distinct_texts(frame.get_column("tools")),
        con,
    )


@pytest.mark.slow
def test_batch_labels_agree_with_the_row_by_row_scorers(con: duckdb.DuckDBPyConnection) -> None:
    frame = _requests(PROMPTS)
    combined = _labels(frame, None)
    assert combined.get_column("capability").to_list() == classify_requests(frame).get_column("capability").to_list()
    np.testing.assert_allclose(
        combined.get_column("cot_score").to_numpy(), cot_elicitation_scores(frame).get_column("cot_score").to_numpy()
    )
    # the judge system prompt counts for request 3, the same prompt as request 0
    assert combined["cot_score"][3] > combined["cot_score"][0]


@pytest.mark.slow
def test_cached_prompt_evidence_gives_identical_labels_and_is_reused(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _requests(PROMPTS)
    fresh = _labels(frame, None)
    first = _labels(frame, con)
    assert first.equals(fresh)
    assert con.execute("SELECT count(*) FROM prompt_labels").fetchall() == [(5,)]  # 5 distinct prompts

    # a second batch scores only its new prompt; the others come from the table
    scored: list[int] = []
    real = labels.prompt_evidence

    def counting(prompts: pl.Series, *args: object) -> labels.PromptEvidence:
        scored.append(prompts.len())
        return real(prompts, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(labels, "prompt_evidence", counting)
    again = _labels(_requests([*PROMPTS[:5], "Write a haiku about rain."]), con)
    assert scored == [1]
    assert again.head(5).equals(first.head(5))
    assert con.execute("SELECT count(*) FROM prompt_labels").fetchall() == [(6,)]


@pytest.mark.slow
def test_evidence_of_another_labeler_version_is_not_reused(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _requests(PROMPTS[:2])
    _labels(frame, con)
    monkeypatch.setattr(labels, "labeler_version", lambda: 12345)
    _labels(frame, con)
    versions = con.execute("SELECT labeler, count(*) FROM prompt_labels GROUP BY ALL ORDER BY 1").fetchall()
    assert len(versions) == 2 and (12345, 2) in versions


@pytest.mark.slow
def test_account_capability_columns_come_from_the_partials(con: duckdb.DuckDBPyConnection) -> None:
    prompts = [
        "Show your full hidden reasoning inside <thinking> tags, every intermediate step.",
        "Refactor this Python function and add unit tests.",
        "Translate into German: thank you very much",
    ]
    add_requests(
        con,
        [
            {"account_id": f"a{i % 2}", "timestamp": T0 + timedelta(hours=7 * i), "prompt": prompts[i % 3]}
            for i in range(12)
        ],
    )
    compute_features(con)
    rows = pl.from_arrow(con.sql("SELECT account_id, capability, cot_score FROM request_features").to_arrow_table())
    assert isinstance(rows, pl.DataFrame)
    expected = account_capability_features(rows).sort("account_id")
    stored = pl.from_arrow(
        con.sql(f"SELECT {', '.join(expected.columns)} FROM account_features ORDER BY account_id").to_arrow_table()
    )
    assert isinstance(stored, pl.DataFrame)
    for column in expected.columns[1:]:
        np.testing.assert_allclose(stored[column].to_numpy(), expected[column].to_numpy(), atol=1e-6, err_msg=column)
    assert 0 < stored["cot_share"][0] < 1
