"""Check canonical records against the data contract in one vectorized DuckDB query.

A reader (see `detector.ingest.readers`) turns a batch of its input into the *canonical
relation*: `line`, `raw`, `reject` (a reason found while reading, or NULL), `extra` (JSON text
of unknown fields, or NULL), and for every field `f` of the record spec a value column `f` and
a kind column `f__k`. The kind says what the input held: a JSON type name as DuckDB's
`json_type` spells it (`VARCHAR`, `UBIGINT`, `BIGINT`, `DOUBLE`, `BOOLEAN`, `ARRAY`, `OBJECT`,
`NULL`), or `TEXT` for untyped text that must be parsed (a CSV cell). Values are VARCHAR,
except `messages` and `tools`, which are JSON.

A reader that reads typed nested data (a Parquet `list<struct<role, content>>`) may also give
a boolean column `f__items_ok` for `messages` or `tools`: whether the items already have the
right shape, checked on the native values, so that validation does not parse the JSON again.

`validated_sql` turns that relation into typed columns plus a `reason` that lists every rule
the record breaks (NULL for a good record). Every rule here is SQL over whole columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from detector.ingest.readers import literal as _lit
from detector.ingest.readers import quoted as _q
from detector.ingest.schema import (
    EPOCH_MILLIS_FROM,
    MAX_RECORD_BYTES,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    RAW_KEEP_BYTES,
    Field,
    Kind,
    RecordSpec,
)


@dataclass(frozen=True)
class FileRelation:
    """A whole file as the canonical relation, for a reader whose format DuckDB scans itself
    (an optional fast path next to `batches` + `canonical`)."""

    sql: str
    """SELECT of the canonical relation; may use the bound parameters `params`."""
    params: dict[str, object]
    rows: int
    """Records in the file, exactly (the ingest counts bad rows as `rows` minus those stored)."""
    items_checked: frozenset[str]
    """JSON fields whose `f__items_ok` column the relation carries."""
    ips: pa.Array | None = None
    """The distinct values of the record's IP field, when the reader already has them (else the
    ingest selects them from `sql` in a pre-pass)."""
    streams: Callable[[], dict[str, pa.RecordBatchReader]] | None = None
    """Fresh Arrow streams that `sql` reads as views, registered before each statement over it."""


STRING_KINDS = "('VARCHAR', 'TEXT')"
NUMBER_KINDS = "('UBIGINT', 'BIGINT', 'DOUBLE')"
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$"
NUMERIC_TEXT = r"^\s*-?\d+(\.\d+)?\s*$"
INTEGER_TEXT = r"^\s*[-+]?\d+\s*$"


def _present(field: Field) -> str:
    return f"({_q(field.name)} IS NOT NULL AND {_q(field.name + '__k')} IS DISTINCT FROM 'NULL')"


def items_ok_column(name: str) -> str:
    """The optional canonical column saying a JSON field's items were checked natively."""
    return name + "__items_ok"


def _helpers(field: Field, checked: frozenset[str]) -> list[str]:
    """Intermediate columns a field's checks share (computed once, in a lower projection)."""
    v, k = _q(field.name), _q(field.name + "__k")
    name = field.name
    if field.kind is Kind.TIMESTAMP:
        # Epoch seconds or milliseconds, decided by magnitude; else RFC 3339 with an offset.
        epoch = (
            f"CASE WHEN {k} IN {NUMBER_KINDS} THEN try_cast({v} AS DOUBLE) "
            f"WHEN {k} IN {STRING_KINDS} AND regexp_full_match({v}, {_lit(NUMERIC_TEXT)}) "
            f"THEN try_cast(trim({v}) AS DOUBLE) END"
        )
        return [
            f"{epoch} AS {_q(name + '__epoch')}",
            f"CASE WHEN {k} IN {STRING_KINDS} AND regexp_full_match({v}, {_lit(RFC3339)}) "
            f"THEN try_cast({v} AS TIMESTAMPTZ) END AS {_q(name + '__rfc')}",
        ]
    if field.kind in (Kind.COUNT, Kind.INTEGER):
        number = (
            f"CASE WHEN {k} IN ('UBIGINT', 'BIGINT') THEN try_cast({v} AS HUGEINT) "
            f"WHEN {k} = 'DOUBLE' AND try_cast({v} AS DOUBLE) = floor(try_cast({v} AS DOUBLE)) "
            f"THEN try_cast(try_cast({v} AS DOUBLE) AS HUGEINT) "
            f"WHEN {k} = 'TEXT' AND regexp_full_match({v}, {_lit(INTEGER_TEXT)}) "
            f"THEN try_cast(trim({v}) AS HUGEINT) END"
        )
        return [f"{number} AS {_q(name + '__int')}"]
    if field.name in checked:
        return []
    if field.kind in (Kind.MESSAGES, Kind.TOOLS):
        # JSON types of the items (and of each item's role and content): three quick parses
        # of the array cost less than transforming it into a list of structs (measured).
        array_ok = _json_kind_ok(field, "('ARRAY')")
        json = f"CASE WHEN {array_ok} THEN {v} END"
        out = [f"json_type({json}, '$[*]') AS {_q(name + '__types')}"]
        if field.kind is Kind.MESSAGES:
            out.append(f"json_type({json}, '$[*].role') AS {_q(name + '__roles')}")
            out.append(f"json_type({json}, '$[*].content') AS {_q(name + '__contents')}")
        return out
    return []


def _json_kind_ok(field: Field, kinds: str) -> str:
    v, k = _q(field.name), _q(field.name + "__k")
    # Untyped text (CSV) must hold JSON of the right kind.
    return f"({k} IN {kinds} OR ({k} = 'TEXT' AND json_type({v}) IN {kinds}))"


def _problems(field: Field, checked: frozenset[str]) -> list[str]:
    """CASE expressions, one per rule, each giving a reason or NULL."""
    v, k, name = _q(field.name), _q(field.name + "__k"), field.name
    present = _present(field)
    out: list[str] = []
    if field.required:
        # Only a value starting with whitespace can be blank: trim (a copy) runs on those alone.
        blank = (
            f" OR ({k} IN {STRING_KINDS} AND ({v} = '' OR (left({v}, 1) IN (' ', chr(9), chr(10), chr(13)) "
            f"AND trim({v}) = '')))"
            if field.kind in (Kind.STRING, Kind.IP)
            else ""
        )
        out.append(f"CASE WHEN NOT {present}{blank} THEN {_lit('missing ' + name)} END")
    if field.name in checked:
        shape = (
            "{role: string, content: string}"
            if field.kind is Kind.MESSAGES
            else "tool names or tool definition objects"
        )
        out.append(
            f"CASE WHEN {present} AND {k} <> 'ARRAY' THEN {_lit(name + ' must be an array')} "
            f"WHEN {present} AND NOT coalesce({_q(items_ok_column(name))}, false) "
            f"THEN {_lit(name + ' items must be ' + shape)} END"
        )
        return out
    if field.kind in (Kind.STRING, Kind.IP):
        out.append(
            f"CASE WHEN {present} AND {k} NOT IN {STRING_KINDS} THEN {_lit(name + ' must be a string')} END"
        )
    elif field.kind is Kind.TIMESTAMP:
        epoch, rfc, stamp = _q(name + "__epoch"), _q(name + "__rfc"), _q(name + "__ts")
        out.append(
            f"CASE WHEN {present} THEN CASE WHEN {epoch} IS NULL AND {rfc} IS NULL THEN "
            f"CASE WHEN {k} IN {STRING_KINDS} "
            f"THEN {_lit('unparseable ' + name + ' (want RFC 3339 with offset, or epoch seconds or ms)')} "
            f"ELSE {_lit(name + ' must be a string or a number')} END "
            f"WHEN {stamp} IS NULL OR NOT ({stamp} >= TIMESTAMPTZ {_lit(MIN_TIMESTAMP)} "
            f"AND {stamp} < TIMESTAMPTZ {_lit(MAX_TIMESTAMP)}) "
            f"THEN {_lit(name + ' out of range (2000-2100)')} END END"
        )
    elif field.kind in (Kind.COUNT, Kind.INTEGER):
        number = _q(name + "__int")
        out.append(
            f"CASE WHEN {present} AND {number} IS NULL THEN {_lit(name + ' must be an integer')} END"
        )
        out.append(
            f"CASE WHEN {number} IS NOT NULL AND ({number} > 9223372036854775807 "
            f"OR {number} < -9223372036854775808) THEN {_lit(name + ' out of range')} END"
        )
        if field.kind is Kind.COUNT:
            out.append(f"CASE WHEN {number} < 0 THEN {_lit('negative ' + name)} END")
    elif field.kind in (Kind.MESSAGES, Kind.TOOLS):
        types = _q(name + "__types")
        array_ok = _json_kind_ok(field, "('ARRAY')")
        if field.kind is Kind.MESSAGES:
            # Every item an object with a string role and a string (or null) content: as many
            # roles and contents as items, of the right types.
            roles, contents = _q(name + "__roles"), _q(name + "__contents")
            items_ok = (
                f"list_has_all(['OBJECT'], {types}) AND len({roles}) = len({types}) "
                f"AND len({contents}) = len({types}) AND list_has_all(['VARCHAR'], {roles}) "
                f"AND list_has_all(['VARCHAR', 'NULL'], {contents})"
            )
            shape = "{role: string, content: string}"
        else:
            items_ok = f"list_has_all(['VARCHAR', 'OBJECT'], {types})"
            shape = "tool names or tool definition objects"
        out.append(
            f"CASE WHEN {present} AND NOT coalesce({array_ok}, false) "
            f"THEN {_lit(name + ' must be an array')} "
            f"WHEN {present} AND NOT coalesce(len({types}) = 0 OR ({items_ok}), false) "
            f"THEN {_lit(name + ' items must be ' + shape)} END"
        )
    return out


def _typed(field: Field) -> str:
    """The value as stored: NULL when absent or JSON null."""
    v, name = _q(field.name), field.name
    present = _present(field)
    if field.kind is Kind.TIMESTAMP:
        return f"{_q(name + '__ts')} AS {v}"
    if field.kind in (Kind.COUNT, Kind.INTEGER):
        return f"try_cast({_q(name + '__int')} AS BIGINT) AS {v}"
    if field.kind in (Kind.MESSAGES, Kind.TOOLS):
        return f"CASE WHEN {present} THEN {v}::JSON END AS {v}"
    return v  # a JSON null already reads as NULL; a wrong kind is quarantined, never stored


def _row_json(spec: RecordSpec, alias: str = "") -> str:
    """A record's fields as one JSON object (text as read, for a CSV or Parquet row)."""
    prefix = f"{alias}." if alias else ""
    # JSON fields are cast again: a row that went through Arrow holds them as plain text.
    pairs = ", ".join(
        f"{_lit(f.name)}, {prefix}{_q(f.name)}{'::JSON' if f.kind in (Kind.MESSAGES, Kind.TOOLS) else ''}"
        for f in spec.fields
    )
    return f"json_object({pairs})::VARCHAR"


def quarantine_raw_sql(spec: RecordSpec, alias: str) -> str:
    """The raw text kept in the quarantine for a validated row: the line as read (without its
    newline, cut at `RAW_KEEP_BYTES` if oversize), or the row as a JSON object for CSV/Parquet."""
    raw = f"{alias}.raw"
    return (
        f"CASE WHEN {raw} IS NULL THEN left({_row_json(spec, alias)}, {RAW_KEEP_BYTES}) "
        f"WHEN strlen({raw}) > {MAX_RECORD_BYTES} THEN left({raw}, {RAW_KEEP_BYTES}) "
        f"ELSE rtrim({raw}, chr(10) || chr(13)) END"
    )


def _size(spec: RecordSpec) -> str:
    parts = " + ".join(f"coalesce(strlen({_q(f.name)}::VARCHAR), 0)" for f in spec.fields)
    return f"({parts} + coalesce(strlen(extra), 0))"


def validated_sql(
    spec: RecordSpec, canonical: str, items_checked: frozenset[str] = frozenset()
) -> str:
    """SQL over the canonical relation named `canonical`: typed columns and a `reason`.

    `items_checked` names the JSON fields for which the relation carries an `f__items_ok`
    column. Output columns: `line`, `raw` (as read; NULL for CSV and Parquet rows), `reason`,
    every field of `spec` typed for the store, and `extra`.
    """
    helpers = [h for f in spec.fields for h in _helpers(f, items_checked)]
    timestamps = [
        f"CASE WHEN {_q(f.name + '__epoch')} IS NOT NULL AND abs({_q(f.name + '__epoch')}) < 1e14 THEN "
        f"to_timestamp(CASE WHEN abs({_q(f.name + '__epoch')}) >= {EPOCH_MILLIS_FROM} "
        f"THEN {_q(f.name + '__epoch')} / 1000 ELSE {_q(f.name + '__epoch')} END) "
        f"ELSE {_q(f.name + '__rfc')} END AS {_q(f.name + '__ts')}"
        for f in spec.fields
        if f.kind is Kind.TIMESTAMP
    ]
    problems = [p for f in spec.fields for p in _problems(f, items_checked)]
    size_check = (
        f"CASE WHEN reject IS NULL AND raw IS NULL AND {_size(spec)} > {MAX_RECORD_BYTES} "
        f"THEN 'record too large: ' || {_size(spec)} || ' bytes > {MAX_RECORD_BYTES} bytes' END"
    )
    reason = (
        f"CASE WHEN reject IS NOT NULL THEN reject ELSE "
        f"nullif(concat_ws('; ', {size_check}, {', '.join(problems)}), '') END"
    )
    typed = ", ".join(_typed(f) for f in spec.fields)
    return f"""
        WITH helped AS (
            SELECT *, {", ".join(helpers) if helpers else "NULL AS __none"} FROM {canonical}
        ), stamped AS (
            SELECT *{", " + ", ".join(timestamps) if timestamps else ""} FROM helped
        ), judged AS (
            SELECT *, {reason} AS reason FROM stamped
        )
        SELECT line,
               CASE WHEN raw IS NULL AND reason IS NOT NULL THEN left({_row_json(spec)}, {RAW_KEEP_BYTES})
                    ELSE raw END AS raw,
               reason, {typed}, CASE WHEN reason IS NULL THEN extra END AS extra
        FROM judged
    """
