"""JSON Lines: one object per campaign alert (contract §6) or per account score (§7 fields)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import polars as pl


class JsonRecord(Protocol):
    def to_json_obj(self) -> dict[str, Any]: ...


def dumps(obj: Any) -> str:
    """Compact, UTF-8 friendly JSON: the same record always gives the same bytes."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def jsonl_lines(records: Iterable[JsonRecord]) -> Iterator[str]:
    """One line per record, each ending in a newline."""
    for record in records:
        yield dumps(record.to_json_obj()) + "\n"


def frame_lines(frame: pl.DataFrame, batch: int = 200_000) -> Iterator[str]:
    """One JSON object per row of a flat frame, written by polars in batches."""
    for start in range(0, frame.height, batch):
        yield frame.slice(start, batch).write_ndjson()
