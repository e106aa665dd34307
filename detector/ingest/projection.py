"""Building blocks for readers that reshape their input into the canonical relation in SQL.

The canonical relation (see `detector.ingest.validate`) has `line`, `raw`, `reject`, a value
column `f` and a kind column `f__k` for every field, and `extra`. Readers of foreign formats
(OpenTelemetry spans, LiteLLM spend logs, mapped columns) compute each field as a JSON value,
and `field_columns` turns those into value and kind columns the validator understands.
"""

from __future__ import annotations

from collections.abc import Mapping

from detector.ingest.readers import BATCH_VIEW, is_json_kind, literal, quoted
from detector.ingest.schema import MAX_RECORD_BYTES, RecordSpec

PARSED_LINES = f"""
    SELECT line, raw, reject, unterminated,
           CASE WHEN reject IS NULL THEN try(json(raw)) END AS j
    FROM {BATCH_VIEW}
    WHERE NOT regexp_full_match(raw, '\\s*')
"""
"""Non-blank lines of a JSON Lines batch (`line`, `raw`, `reject`, `unterminated`) with `j`,
the line parsed as JSON (NULL when it is not JSON)."""

LINE_REJECT = """
    CASE WHEN reject IS NOT NULL THEN reject
         WHEN j IS NULL AND unterminated
              THEN 'truncated last line (no newline at end of file, not valid JSON)'
         WHEN j IS NULL THEN 'not valid JSON'
         WHEN json_type(j) = 'ARRAY' THEN 'JSON array, expected one object per line'
         WHEN json_type(j) <> 'OBJECT' THEN 'JSON ' || lower(json_type(j)) || ', expected an object'
    END
"""
"""Why a parsed line cannot hold a record, or NULL (over `PARSED_LINES`)."""

OVERSIZE_REJECT = (
    f"CASE WHEN strlen(raw) > {MAX_RECORD_BYTES} "
    f"THEN 'record too large: ' || strlen(raw) || ' bytes > {MAX_RECORD_BYTES} bytes' END"
)
"""Why a record whose `raw` text was rebuilt by the reader is too large, or NULL."""


def json_value_text(value: str) -> str:
    """SQL: the text of a JSON value, unquoted when it is a string (NULL for JSON null)."""
    return (
        f"CASE WHEN json_type({value}) = 'VARCHAR' THEN {value} ->> '$' ELSE {value}::VARCHAR END"
    )


def json_kind(value: str) -> str:
    """SQL: the kind column for a JSON value (its `json_type`; NULL when absent)."""
    return f"json_type({value})"


def field_columns(spec: RecordSpec, values: Mapping[str, str]) -> str:
    """SQL select-list of every field's value and kind; `values` maps a field to a JSON
    expression, and fields not in it are absent."""
    parts: list[str] = []
    for field in spec.fields:
        column, kind_column = quoted(field.name), quoted(field.name + "__k")
        value = values.get(field.name)
        if value is None:
            value_type = "JSON" if is_json_kind(field.kind) else "VARCHAR"
            parts.append(f"NULL::{value_type} AS {column}, NULL::VARCHAR AS {kind_column}")
        elif is_json_kind(field.kind):
            parts.append(f"({value})::JSON AS {column}, {json_kind(value)} AS {kind_column}")
        else:
            parts.append(
                f"{json_value_text(value)} AS {column}, {json_kind(value)} AS {kind_column}"
            )
    return ", ".join(parts)


def staged_values(values: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Each field's JSON expression computed once: a select-list (`expr AS "v:field"`) for a
    lower query, and the column references to hand `field_columns` in the query above it."""
    refs = {name: quoted("v:" + name) for name in values}
    select = ", ".join(f"({expr}) AS {refs[name]}" for name, expr in values.items())
    return select or "NULL AS __no_values", refs


def json_key_path(key: str) -> str:
    """A JSON path selecting the top-level `key` of an object, whatever characters it has."""
    return "$." + '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def json_path(key: str) -> str:
    """`json_key_path` as an SQL literal."""
    return literal(json_key_path(key))


def json_member(document: str, key: str) -> str:
    """SQL: the member `key` of the JSON object `document` (NULL when missing)."""
    return f"json_extract({document}, {json_path(key)})"


def unpacked_json(value: str) -> str:
    """SQL: a JSON value, or the JSON a string value holds (logs often store arrays as JSON text)."""
    return (
        f"CASE WHEN json_type({value}) = 'VARCHAR' "
        f"THEN coalesce(try(json({value} ->> '$')), {value}) ELSE {value} END"
    )


def first_present(values: list[str]) -> str:
    """SQL: the first of several JSON values that is neither missing, JSON null nor an empty string."""
    if not values:
        return "NULL::JSON"
    cases = " ".join(
        f"WHEN coalesce(json_type({v}) <> 'NULL' AND ({v} ->> '$') IS DISTINCT FROM '', false) THEN {v}"
        for v in values
    )
    return f"CASE {cases} END"
