"""JSON Lines (`.jsonl`, `.ndjson`, optionally gzip-compressed): one JSON object per line.

Lines are split outside DuckDB (`detector.ingest.lines`) so each keeps its number and raw
text; DuckDB then parses each line once, pulling every canonical field in one `json_extract`.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from detector.ingest import lines
from detector.ingest.lines import LINE_BATCH_SCHEMA, iter_lines
from detector.ingest.readers import BATCH_VIEW, Batch, is_json_kind, literal, quoted
from detector.ingest.schema import RAW_KEEP_BYTES, RecordSpec

GZIP_MAGIC = b"\x1f\x8b"


def open_maybe_gzip(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """The decompressed stream of `path` and the underlying file (whose offset measures progress)."""
    raw = path.open("rb")
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    raw.seek(0)
    return raw, raw


def _kind(item: str) -> str:
    """The JSON type of an extracted value, named as `json_type` would, read from its first character."""
    return (
        f"CASE WHEN {item} IS NULL THEN NULL ELSE CASE left({item}, 1) "
        "WHEN '\"' THEN 'VARCHAR' WHEN '[' THEN 'ARRAY' WHEN '{' THEN 'OBJECT' "
        "WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' "
        f"ELSE CASE WHEN regexp_matches({item}, '[.eE]') THEN 'DOUBLE' ELSE 'BIGINT' END END END"
    )


WHOLE_ARRAY_REASON = (
    "the file is one JSON array spread over many lines, not JSON Lines (one object per line); "
    "convert it first, e.g. jq -c '.[]'"
)


def _whole_file_array(table: pa.Table) -> pa.Table | None:
    """One quarantine line for a file whose content is a JSON array spread over many lines
    (its first non-blank line opens an array that does not close on that line), else None.
    Such a file is not JSON Lines; rejecting each of its lines would bury the one real cause."""
    raws = table.column("raw")
    for index in range(min(len(raws), 64)):
        text = raws[index].as_py()
        stripped = (text or "").lstrip("\ufeff \t\r\n")
        if not stripped:
            continue
        if not stripped.startswith("["):
            return None
        try:
            json.loads(stripped)
        except ValueError:
            head = "".join(raw.as_py() or "" for raw in raws[index : index + 200])
            return pa.Table.from_pylist(
                [
                    {
                        "line": table.column("line")[index].as_py(),
                        "raw": head[:RAW_KEEP_BYTES],
                        "reject": WHOLE_ARRAY_REASON,
                        "unterminated": False,
                    }
                ],
                schema=LINE_BATCH_SCHEMA,
            )
        return None  # an array on one line: that line alone is quarantined
    return None


class JsonLinesReader:
    """Reads JSON Lines, plain or gzip-compressed (detected by magic bytes)."""

    format = "jsonl"

    def __init__(self, chunk_bytes: int | None = None) -> None:
        self.chunk_bytes = chunk_bytes

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        stream, underlying = open_maybe_gzip(path)
        with stream, underlying:
            first = True
            for table in iter_lines(stream, self.chunk_bytes or lines.CHUNK_BYTES):
                if first and (whole := _whole_file_array(table)) is not None:
                    yield Batch(whole, path.stat().st_size)
                    return
                first = False
                yield Batch(table, underlying.tell())

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        return table, self._sql(spec)

    @staticmethod
    @functools.cache
    def _sql(spec: RecordSpec) -> str:
        names = spec.names
        paths = "[" + ", ".join(literal(f"$.{name}") for name in names) + "]"
        values: list[str] = []
        for index, field in enumerate(spec.fields, start=1):
            item = f"v[{index}]"
            # Parsing an extracted scalar again is cheaper than slicing the quotes off a string
            # (a slice counts code points) - measured.
            value = item if is_json_kind(field.kind) else f"{item} ->> '$'"
            values.append(
                f"{value} AS {quoted(field.name)}, {_kind(item)} AS {quoted(field.name + '__k')}"
            )
        # Unknown keys: a minified (or ", "/": "-spaced) line made only of known keys has an exact
        # length, so only lines of another length pay for a second parse to find extra keys.
        key_bytes = " + ".join(
            f"coalesce(strlen(v[{i}]::VARCHAR) + {len(name.encode()) + 3}, 0)"
            for i, name in enumerate(names, start=1)
        )
        present = "list_count(v)"  # keys found (a JSON null counts); a lambda costs 3x
        null_patch = "{" + ",".join(f'"{name}":null' for name in names) + "}"
        extra = f"""
            CASE WHEN v IS NULL THEN NULL
                 WHEN raw_len IN (2 + {key_bytes} + {present} - 1, 2 + {key_bytes} + 3 * {present} - 2) THEN NULL
                 ELSE nullif(json_merge_patch(raw, {literal(null_patch)})::VARCHAR, '{{}}') END"""
        return f"""
            WITH lines AS (
                SELECT line, raw, reject, unterminated,
                       strlen(raw) - CASE WHEN suffix(raw, chr(13) || chr(10)) THEN 2
                                                WHEN suffix(raw, chr(10)) THEN 1 ELSE 0 END AS raw_len,
                       reject IS NULL AND (left(raw, 1) = '{{' OR regexp_matches(raw, '^\\s*\\{{')) AS looks_like_object
                FROM {BATCH_VIEW}
                WHERE NOT (left(raw, 1) IN (chr(10), chr(13), ' ', chr(9)) AND regexp_full_match(raw, '\\s*'))
            ), parsed AS (
                SELECT *, CASE WHEN looks_like_object THEN try(json_extract(raw, {paths})) END AS v FROM lines
            )
            SELECT line, raw,
                   CASE WHEN reject IS NOT NULL THEN reject
                        WHEN v IS NOT NULL THEN NULL
                        WHEN unterminated THEN 'truncated last line (no newline at end of file, not valid JSON)'
                        WHEN try(json_type(raw)) = 'ARRAY' THEN 'JSON array, expected one object per line'
                        WHEN try(json_type(raw)) IS NOT NULL THEN 'JSON ' || lower(json_type(raw)) || ', expected an object'
                        ELSE 'not valid JSON' END AS reject,
                   {", ".join(values)},
                   {extra} AS extra
            FROM parsed
        """
