"""The pluggable reader layer: one reader per input format, all feeding the same validation.

A reader turns one file into a stream of Arrow batches (`batches`) and says, as SQL over a
batch registered as the view `batch`, how those rows map onto the *canonical relation* that
`detector.ingest.validate` checks (`canonical`). New formats (OpenTelemetry spans, LiteLLM
spend logs, column mappings) plug in as new readers; validation and storage do not change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from detector.ingest.schema import Kind, RecordSpec

BATCH_VIEW = "batch"


@dataclass(frozen=True)
class Batch:
    """Some consecutive records of a file, and how far into the file (in bytes) they reach."""

    table: pa.Table
    position: int


class Reader(Protocol):
    """Reads one input format."""

    format: str

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        """The file's records in order, as Arrow tables with a `line` column (from 1)."""
        ...

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        """The table to register as view `batch`, and SQL selecting the canonical relation from it."""
        ...


def quoted(name: str) -> str:
    """A quoted SQL identifier for a fixed name (a canonical field or an internal column)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal for a fixed code constant."""
    return "'" + text.replace("'", "''") + "'"


def is_json_kind(kind: Kind) -> bool:
    """Whether a field holds JSON (arrays) rather than scalar text in the canonical relation."""
    return kind in (Kind.MESSAGES, Kind.TOOLS)


INTEGER_TEXT = r"\s*-?\d+\s*"
"""Text that spells an integer (blanks around it allowed), as OTel `intValue`s and CSV cells do."""


def integer_text_json(text: str) -> str:
    """SQL: the JSON number that the text expression `text` spells, NULL if it spells no integer."""
    return (
        f"CASE WHEN regexp_full_match({text}, {literal(INTEGER_TEXT)}) THEN json(trim({text})) END"
    )
