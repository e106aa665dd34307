"""JSON Lines (`.jsonl`, `.ndjson`, optionally gzip-compressed): one JSON object per line.

Two ways in, both ending in the same canonical SQL (each line parsed once, every canonical field
pulled by one `json_extract`):

- `file_relation`, the one-statement path (as for Parquet): the ingest validates, enriches and
  inserts the whole file with one `INSERT ... SELECT` on the store's connection. A survey pass
  first reads the file's lines with DuckDB (one VARCHAR column of a strict `read_csv` whose
  delimiter is a control byte that valid JSON never holds unescaped) to count the records,
  collect the distinct IPs for enrichment and check that those lines account for every byte of
  the file. The statement's numbered lines then come from the Python line splitter as an Arrow
  stream (`Numbering.SPLITTER`, DuckDB runs the statement on every thread), or from the same
  `read_csv` numbered by `WITH ORDINALITY` (`Numbering.ORDINALITY`: less CPU, one thread).
- `batches` + `canonical`, the batch path: split lines validated batch by batch on a worker
  connection, for every file the survey declines: a UTF-8 BOM, a leading `[`, carriage
  returns (CRLF), raw control bytes, invalid UTF-8, a line over the record limit, bytes not
  accounted for (e.g. a gzip file of several members).

Stored rows, line numbers and quarantine rows are the same either way (tested row for row).
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa

from detector.ingest import lines
from detector.ingest.lines import LINE_BATCH_SCHEMA, iter_lines
from detector.ingest.readers import BATCH_VIEW, Batch, is_json_kind, literal, quoted
from detector.ingest.schema import MAX_RECORD_BYTES, RAW_KEEP_BYTES, RecordSpec
from detector.ingest.validate import FileRelation

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


BLANK_LINE = "left(raw, 1) IN (chr(10), chr(13), ' ', chr(9)) AND regexp_full_match(raw, '\\s*')"
"""SQL: the line `raw` holds nothing but whitespace (skipped: not a record, but numbered)."""

LINE_DELIMITER = "\x01"
"""The `read_csv` delimiter: JSON escapes control bytes inside strings, so a raw one only occurs
in a line that is not JSON, and the strict reader then fails (and the file goes the other way)."""

HEAD_BYTES = 64 * 1024
HEAD_LINES = 64
BOM = b"\xef\xbb\xbf"


def line_scan(compression: str) -> str:
    """`read_csv` of the file `$path` as one VARCHAR column `raw` per line (newline not kept;
    an empty line reads as NULL). Strict mode makes DuckDB fail on a carriage return, a raw
    delimiter byte, invalid UTF-8 or a line of `MAX_RECORD_BYTES` or more (newline included,
    the limit the line splitter applies) instead of reading such lines differently."""
    return (
        "read_csv($path, columns = {'raw': 'VARCHAR'}, header = false, auto_detect = false, "
        f"delim = {literal(LINE_DELIMITER)}, quote = '', escape = '', new_line = '\\n', "
        f"strict_mode = true, max_line_size = {MAX_RECORD_BYTES}, compression = {literal(compression)})"
    )


def _gzip_size_mod_2_32(path: Path) -> int:
    """The uncompressed size modulo 2**32 that a gzip file's last member records (ISIZE)."""
    with path.open("rb") as handle:
        handle.seek(-4, 2)
        return int.from_bytes(handle.read(4), "little")


def head_allows_scan(head: bytes, whole_file: bool) -> bool:
    """Whether the first decompressed bytes of a file let DuckDB read its lines: no UTF-8 BOM
    (DuckDB drops it, the line splitter keeps it) and a first non-blank line that does not open
    a JSON array (a pretty-printed array file gets its own single quarantine row)."""
    if head.startswith(BOM):
        return False
    for line in head.split(b"\n")[:HEAD_LINES]:
        stripped = line.strip(b" \t\r\n")
        if stripped:
            return not stripped.startswith(b"[")
    return whole_file  # only blank lines seen: fine if that is the whole file


def _head(path: Path) -> tuple[bytes, bool]:
    """Up to `HEAD_BYTES` of the decompressed file, and whether that is all of it."""
    stream, underlying = open_maybe_gzip(path)
    with stream, underlying:
        head = stream.read(HEAD_BYTES + 1)
    return head[:HEAD_BYTES], len(head) <= HEAD_BYTES


LINE_STREAM = "jsonl_lines"
"""The view the one-statement path registers the line splitter's stream as."""

STREAM_CHUNK_BYTES = 8 * 1024 * 1024
"""Bytes the splitter reads at a time for that stream (each thread holds a chunk or two)."""

STREAM_ROWS = 2048
"""Lines per Arrow record batch of that stream: small, so every DuckDB thread gets work."""


class Numbering(StrEnum):
    """Who numbers the lines of the one-statement path."""

    SPLITTER = "splitter"
    """The Python line splitter streams numbered lines into the statement, which DuckDB then
    runs on every thread."""
    ORDINALITY = "ordinality"
    """DuckDB reads and numbers the lines itself (`read_csv ... WITH ORDINALITY`): less CPU, but
    `row_number() OVER ()` keeps the whole statement on one thread."""


class JsonLinesReader:
    """Reads JSON Lines, plain or gzip-compressed (detected by magic bytes).

    `scan_in_duckdb=False` (or the class attribute set to False) keeps every file on the
    batch path (`batches`, validated on a worker connection); `numbering` picks how the
    one-statement path gets its line numbers."""

    format = "jsonl"
    scan_in_duckdb = True
    numbering = Numbering.SPLITTER

    def __init__(
        self, chunk_bytes: int | None = None, *, scan_in_duckdb: bool | None = None
    ) -> None:
        self.chunk_bytes = chunk_bytes
        if scan_in_duckdb is not None:
            self.scan_in_duckdb = scan_in_duckdb

    def file_relation(
        self, con: duckdb.DuckDBPyConnection, path: Path, spec: RecordSpec
    ) -> FileRelation | None:
        """The whole file as the canonical relation for one statement, or None when the file
        needs the batch path (see the module docstring). Runs the survey pass over DuckDB's own
        line reader: records, distinct IPs, and the byte accounting that proves DuckDB saw the
        lines the splitter sees (and tells whether the last one ends in a newline)."""
        if not self.scan_in_duckdb:
            return None
        try:
            head, whole_file = _head(path)
            with path.open("rb") as handle:
                compressed = handle.read(2) == GZIP_MAGIC
        except (OSError, EOFError, gzip.BadGzipFile):
            return None  # the line splitter reports it, with its reason
        if not head_allows_scan(head, whole_file):
            return None
        compression = "gzip" if compressed else "none"
        scan = line_scan(compression)
        ip = literal(f"$.{spec.ip_field}")
        # On a cursor of its own: a failed statement must not abort the file's transaction.
        cursor = con.cursor()
        try:
            cursor.execute("SET enable_progress_bar = false")  # the ingest draws its own
            survey = cursor.sql(
                f"""
                SELECT try(json_extract_string(raw, {ip})) AS ip, count(*) AS lines,
                       count(*) FILTER (WHERE raw IS NOT NULL AND NOT ({BLANK_LINE})) AS records,
                       coalesce(sum(strlen(raw)), 0) AS text_bytes
                FROM {scan} GROUP BY ALL
                """,
                params={"path": str(path)},
            ).fetchall()
        except (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException):
            return None  # a line DuckDB would read differently, or an unreadable file
        finally:
            cursor.close()
        line_count = sum(int(row[1]) for row in survey)
        records = sum(int(row[2]) for row in survey)
        text_bytes = sum(int(row[3]) for row in survey)
        # Every line read kept all its bytes and ends in one newline, except perhaps the last;
        # a gzip file records its size modulo 2**32 (of its last member only: a file of several
        # members fails this check and goes the other way).
        modulus = 2**32 if compressed else 2**63
        size = _gzip_size_mod_2_32(path) if compressed else path.stat().st_size
        terminated = (text_bytes + line_count) % modulus
        unterminated = (text_bytes + line_count - 1) % modulus
        if size == terminated:
            last_unterminated = 0
        elif line_count and size == unterminated:
            last_unterminated = line_count
        else:
            return None
        ips = pa.array([row[0] for row in survey if row[0] is not None], pa.string())
        if self.numbering is Numbering.SPLITTER:
            return FileRelation(
                self._sql(spec, LINE_STREAM),
                {},
                records,
                frozenset(),
                ips=ips,
                streams=lambda: {LINE_STREAM: self._line_stream(path, spec)},
            )
        source = (
            f"(SELECT ordinality AS line, raw, NULL::VARCHAR AS reject, "
            f"ordinality = $last_unterminated AS unterminated "
            f"FROM {scan} WITH ORDINALITY) AS {BATCH_VIEW}"
        )
        return FileRelation(
            self._sql(spec, source),
            {"path": str(path), "last_unterminated": last_unterminated},
            records,
            frozenset(),
            ips=ips,
        )

    def _line_stream(self, path: Path, spec: RecordSpec) -> pa.RecordBatchReader:
        """The splitter's numbered lines of `path` as one Arrow stream (read once)."""
        splitter = JsonLinesReader(self.chunk_bytes or STREAM_CHUNK_BYTES, scan_in_duckdb=False)
        pieces = (
            piece
            for batch in splitter.batches(path, spec)
            for piece in batch.table.to_batches(max_chunksize=STREAM_ROWS)
        )
        return pa.RecordBatchReader.from_batches(LINE_BATCH_SCHEMA, pieces)

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
    def _sql(spec: RecordSpec, source: str = BATCH_VIEW) -> str:
        """The canonical relation over numbered lines (`line`, `raw`, `reject`, `unterminated`)
        selected from `source`."""
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
                FROM {source}
                WHERE NOT ({BLANK_LINE})
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
