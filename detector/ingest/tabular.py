"""What CSV and Parquet readers share: mapping typed Arrow columns onto the canonical relation.

Both formats carry one column per field. Columns are renamed to the canonical field names
(unknown ones are gathered in one struct column `__extra`), and each field gets a fixed
*mode* that the SQL uses: text as read, a number or boolean, nested data, JSON text, absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc

from detector.ingest.readers import is_json_kind, quoted
from detector.ingest.schema import Field, Kind, RecordSpec
from detector.ingest.validate import items_ok_column

EXTRA_COLUMN = "__extra"


class Mode(StrEnum):
    TEXT = "TEXT"  # untyped text to be parsed (a CSV cell)
    VARCHAR = "VARCHAR"  # a typed string column
    BIGINT = "BIGINT"
    DOUBLE = "DOUBLE"
    BOOLEAN = "BOOLEAN"
    ARRAY = "ARRAY"
    OBJECT = "OBJECT"
    ABSENT = "ABSENT"


def _mode_of(arrow_type: pa.DataType, untyped_text: bool) -> Mode:
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    ):
        return Mode.TEXT if untyped_text else Mode.VARCHAR
    if (
        pa.types.is_integer(arrow_type)
        or pa.types.is_timestamp(arrow_type)
        or pa.types.is_date(arrow_type)
    ):
        return Mode.BIGINT
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return Mode.DOUBLE
    if pa.types.is_boolean(arrow_type):
        return Mode.BOOLEAN
    if (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    ):
        return Mode.ARRAY
    if pa.types.is_null(arrow_type):
        return Mode.ABSENT
    return Mode.OBJECT  # struct, map and anything else nested


def _to_canonical_column(column: pa.ChunkedArray, mode: Mode) -> pa.ChunkedArray:
    """Timestamps become epoch milliseconds (naive ones are taken as UTC); numbers stay as read."""
    if pa.types.is_timestamp(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("ms", tz=column.type.tz)), pa.int64())
    if pa.types.is_date(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64())
    return column  # any integer type as read: validation range-checks the exact value


def normalize(
    table: pa.Table, spec: RecordSpec, untyped_text: bool
) -> tuple[pa.Table, dict[str, Mode]]:
    """`table` with canonical column names, unknown columns in `__extra`, and each field's mode."""
    known = set(spec.names)
    columns: dict[str, pa.ChunkedArray] = {"line": table.column("line")}
    modes: dict[str, Mode] = {}
    for field in spec.fields:
        if field.name in table.column_names:
            column = table.column(field.name)
            mode = _mode_of(column.type, untyped_text)
            columns[field.name] = _to_canonical_column(column, mode)
            modes[field.name] = mode
        else:
            modes[field.name] = Mode.ABSENT
    extra_names = [name for name in table.column_names if name not in known and name != "line"]
    if extra_names:
        struct = pa.StructArray.from_arrays(
            [table.column(name).combine_chunks() for name in extra_names], names=extra_names
        )
        columns[EXTRA_COLUMN] = pa.chunked_array([struct])
    return pa.table(columns), modes


def items_check_sql(
    field: Field, item_is_struct: bool, struct_fields: Mapping[str, bool]
) -> str | None:
    """SQL checking the items of a typed list column natively, or None when its item type
    cannot be checked without JSON (then validation parses the JSON as for text input).

    `struct_fields` maps the item struct's field names to whether each is a string (or null)."""
    column = quoted(field.name)
    if field.kind is Kind.MESSAGES:
        if not (item_is_struct and struct_fields.get("role") and struct_fields.get("content")):
            return None
        rule = "lambda m: m IS NOT NULL AND m.role IS NOT NULL"
    elif field.kind is Kind.TOOLS:
        rule = "lambda t: t IS NOT NULL"  # a name (string) or a definition (struct), not null
        if not item_is_struct and struct_fields != {"": True}:
            return None
    else:
        return None
    return f"(len({column}) = 0 OR list_bool_and(list_transform({column}, {rule})))"


def arrow_items_checks(table: pa.Table, spec: RecordSpec) -> dict[str, str]:
    """`items_check_sql` for the typed list columns of a normalized Arrow batch."""
    checks: dict[str, str] = {}
    for field in spec.fields:
        if not is_json_kind(field.kind) or field.name not in table.column_names:
            continue
        arrow_type = table.schema.field(field.name).type
        if not (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)):
            continue
        item = arrow_type.value_type
        if pa.types.is_struct(item):
            members = {
                item.field(i).name: _is_text(item.field(i).type) for i in range(item.num_fields)
            }
            sql = items_check_sql(field, True, members)
        else:
            sql = items_check_sql(field, False, {"": _is_text(item)})
        if sql is not None:
            checks[field.name] = sql
    return checks


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def _json_text_kind(parsed: str) -> str:
    """`json_type` of a parsed JSON text (VARCHAR when it is not JSON), read from its first
    character when that decides it (a second full parse of a long array costs as much as the
    first); numbers and text with leading whitespace ask `json_type`."""
    return (
        f"CASE left({parsed}::VARCHAR, 1) WHEN '[' THEN 'ARRAY' WHEN '{{' THEN 'OBJECT' "
        "WHEN '\"' THEN 'VARCHAR' WHEN 'n' THEN 'NULL' WHEN 't' THEN 'BOOLEAN' "
        f"WHEN 'f' THEN 'BOOLEAN' ELSE coalesce(json_type({parsed}), 'VARCHAR') END"
    )


def canonical_select(
    spec: RecordSpec,
    batch: str,
    modes: dict[str, Mode],
    has_extra: bool,
    raw_sql: str = "NULL::VARCHAR",
    reject_sql: str = "NULL::VARCHAR",
    items_checks: Mapping[str, str] | None = None,
) -> str:
    """SQL for the canonical relation over a normalized batch (see `normalize`); `items_checks`
    adds an `f__items_ok` column for typed list fields (see `items_check_sql`)."""
    parts = ["line", f"{raw_sql} AS raw", f"{reject_sql} AS reject"]
    for name, check in (items_checks or {}).items():
        parts.append(f"{check} AS {quoted(items_ok_column(name))}")
    for field in spec.fields:
        name, mode = field.name, modes[field.name]
        column = quoted(name)
        kind_column = quoted(name + "__k")
        if mode is Mode.ABSENT:
            value_type = "JSON" if is_json_kind(field.kind) else "VARCHAR"
            parts.append(f"NULL::{value_type} AS {column}, NULL::VARCHAR AS {kind_column}")
            continue
        null_kind = f"CASE WHEN {column} IS NULL THEN NULL ELSE"
        if is_json_kind(field.kind):
            if mode in (Mode.TEXT, Mode.VARCHAR):
                # JSON text in a string cell: its JSON type, or VARCHAR when it is not JSON.
                parsed = f"try_cast({column} AS JSON)"  # one parse: DuckDB shares the repeats
                parts.append(
                    f"coalesce({parsed}, to_json({column})) AS {column}, "
                    f"{null_kind} {_json_text_kind(parsed)} END AS {kind_column}"
                )
            else:
                parts.append(
                    f"to_json({column}) AS {column}, {null_kind} '{mode.value}' END AS {kind_column}"
                )
        elif mode in (Mode.ARRAY, Mode.OBJECT):
            parts.append(
                f"to_json({column})::VARCHAR AS {column}, {null_kind} '{mode.value}' END AS {kind_column}"
            )
        else:
            parts.append(
                f"{column}::VARCHAR AS {column}, {null_kind} '{mode.value}' END AS {kind_column}"
            )
    parts.append(
        f"to_json({quoted(EXTRA_COLUMN)})::VARCHAR AS extra"
        if has_extra
        else "NULL::VARCHAR AS extra"
    )
    return f"SELECT {', '.join(parts)} FROM {batch}"
