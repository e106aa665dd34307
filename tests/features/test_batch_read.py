"""The feature batch read: rows grouped by DuckDB hashes, distinct texts fetched by row number."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import duckdb
import numpy as np
import polars as pl
from feature_store import T0, add_requests

from detector.features import pipeline
from detector.features.distinct import distinct_texts, from_first_rows, group_rows
from detector.features.tables import ensure_feature_tables

TOOLS = json.dumps([{"type": "function", "function": {"name": "run_shell", "parameters": {}}}])
LONG = "Ünïcode head " * 400 + "middle " * 300 + "tail end ✓" * 150  # clipped: > 4000 characters


def _traffic() -> list[dict[str, Any]]:
    """Repeated prompts, NULL and empty system prompts, every spelling of 'no tools', one long prompt;
    timestamps deliberately out of insertion order and tied."""
    prompts = ["Refactor this function", "Solve 2x + 3 = 7", "Refactor this function", LONG, ""]
    systems = [None, "", "You are a helpful assistant.", None, "You are a coder."]
    tools = [None, "[]", TOOLS, "{}", TOOLS, "null"]
    rows = []
    for i in range(60):
        rows.append(
            {
                "account_id": f"a{i % 4}",
                "timestamp": T0 + timedelta(seconds=(i * 37) % 50),  # shuffled, with ties
                "prompt": prompts[i % len(prompts)],
                "system_prompt": systems[i % len(systems)],
                "tools": tools[i % len(tools)],
            }
        )
    return rows


def _expected(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The batch as the pre-hashing read selected it: every row's clipped texts, in time order."""
    clip = (
        "CASE WHEN length({c}) > 4000 THEN left({c}, 3000) || chr(10) || right({c}, 1000)"
        " ELSE coalesce({c}, '') END"
    )
    frame = pl.from_arrow(
        con.sql(
            "SELECT request_id, account_id, \"timestamp\", "
            f"{clip.format(c='prompt')} AS prompt, {clip.format(c='system_prompt')} AS system_prompt,"
            " coalesce(CAST(tools AS VARCHAR), '') AS tools FROM requests"
            " ORDER BY \"timestamp\", request_id"
        ).to_arrow_table()
    )
    assert isinstance(frame, pl.DataFrame)
    return frame


def _read(con: duckdb.DuckDBPyConnection, fresh: bool) -> pipeline._BatchRows:
    day = T0.date()
    return pipeline._read_batch(con, pipeline._Batch(day, day, 1, 0, fresh), (None, None))


def test_batch_read_gives_every_row_its_clipped_texts_in_time_order(
    con: duckdb.DuckDBPyConnection,
) -> None:
    ensure_feature_tables(con)
    add_requests(con, _traffic())
    expected = _expected(con)
    for fresh in (True, False):
        read = _read(con, fresh)
        frame = read.frame
        assert frame.get_column("request_id").to_list() == expected.get_column("request_id").to_list()
        for column, texts in (
            ("prompt", read.prompts),
            ("system_prompt", read.systems),
            ("tools", read.tools),
        ):
            rows = texts.values.gather(texts.index).to_list()
            assert rows == expected.get_column(column).to_list(), column
            assert texts.values.n_unique() == texts.values.len()  # each text once
        # NULL and "" system prompts are one empty text, as `distinct_texts` reads them
        assert sorted(read.systems.values.to_list()) == sorted(
            ["", "You are a helpful assistant.", "You are a coder."]
        )
        clipped = [p for p in read.prompts.values.to_list() if p.startswith("Ünïcode")]
        assert len(clipped) == 1 and len(clipped[0]) == 3000 + 1 + 1000
        assert clipped[0].endswith("tail end ✓")
        has_tools = frame.get_column("has_tools").to_list()
        assert has_tools == [t == TOOLS for t in expected.get_column("tools").to_list()]
        extra = set(pipeline.DAY_REQUEST_COLUMNS)
        assert extra <= set(frame.columns) if fresh else not extra & set(frame.columns)
        assert not {"prompt", "source_row", "system_key", "tools_key"} & set(frame.columns)


def test_batch_read_keys_equal_those_of_distinct_texts(con: duckdb.DuckDBPyConnection) -> None:
    """`prompt_labels` stores the keys: the hashed read must give the same ones as before."""
    ensure_feature_tables(con)
    add_requests(con, _traffic())
    expected = _expected(con)
    read = _read(con, True)
    for column, texts in (("prompt", read.prompts), ("system_prompt", read.systems)):
        reference = distinct_texts(expected.get_column(column))
        assert texts.values.to_list() == reference.values.to_list()
        assert texts.index.tolist() == reference.index.tolist()
        assert texts.keys.tolist() == reference.keys.tolist()


def test_batch_read_of_an_empty_batch(con: duckdb.DuckDBPyConnection) -> None:
    ensure_feature_tables(con)
    read = _read(con, True)
    assert read.frame.height == 0
    assert read.prompts.values.len() == read.systems.values.len() == read.tools.values.len() == 0


def test_group_rows_numbers_keys_by_first_appearance() -> None:
    rng = np.random.default_rng(7)
    keys = rng.choice(np.array([0, 5, 2**64 - 1, 12345], dtype=np.uint64), size=500)
    first, index = group_rows(keys)
    seen: dict[int, int] = {}
    for row, key in enumerate(keys.tolist()):
        seen.setdefault(key, row)
    assert first.tolist() == sorted(seen.values())  # one row per key, in order of appearance
    assert (keys[first][index] == keys).all()  # every row maps back to its own key
    assert group_rows(np.zeros(0, dtype=np.uint64))[1].shape == (0,)


def test_from_first_rows_reads_null_as_empty_text() -> None:
    texts = from_first_rows(pl.Series(["x", None]), np.array([1, 0, 1]))
    assert texts.values.to_list() == ["x", ""]
    assert texts.keys.tolist() == distinct_texts(pl.Series(["x", ""])).keys.tolist()
