"""Column mappings: read any JSON Lines, CSV or Parquet log whose names differ from the contract.

A mapping names, for canonical fields, the source column that holds them (`--map
prompt=text`, or a YAML file given with `--map-file`); a canonical field it does not name is
read from a column of the same name, if any. Columns that feed no field are kept in `extra`.
When the source has no request id, `derive_request_id` makes a stable one: `dg-` and 32 hex
digits of the SHA-256 of the listed fields' values (or of every field and `extra` with `all`),
so ingesting the same record twice is a no-op. The YAML file:

    format: jsonl                 # optional: jsonl, csv or parquet (else detected)
    fields:                       # canonical field: source column
      input_tokens: token_count
    derive_request_id: [account_id, timestamp, client_ip, prompt]
    truth_label: campaign_label   # optional: the column that `evaluate --truth-from-store` reads
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as FieldColumns
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from detector.errors import InputError
from detector.ingest.csv_reader import CsvReader
from detector.ingest.jsonl_reader import JsonLinesReader
from detector.ingest.parquet_reader import ParquetReader
from detector.ingest.projection import LINE_REJECT, PARSED_LINES, field_columns, json_path
from detector.ingest.readers import BATCH_VIEW, Batch, literal, quoted
from detector.ingest.schema import REQUEST_SPEC, RecordSpec

DERIVE_ALL = "all"
DERIVED_PREFIX = "dg-"
CONTAINERS = ("jsonl", "csv", "parquet")


@dataclass(frozen=True)
class Mapping:
    """Canonical field -> source column, how to derive missing request ids, and the label column."""

    fields: tuple[tuple[str, str], ...] = ()
    derive_request_id: tuple[str, ...] = ()
    container: str | None = None
    truth_label: str | None = None
    source: str = field(default="--map", compare=False)

    @property
    def columns(self) -> dict[str, str]:
        return dict(self.fields)

    def merged(self, other: Mapping) -> Mapping:
        """This mapping with `other`'s entries added or overriding."""
        return Mapping(
            fields=tuple({**self.columns, **other.columns}.items()),
            derive_request_id=other.derive_request_id or self.derive_request_id,
            container=other.container or self.container,
            truth_label=other.truth_label or self.truth_label,
            source=self.source,
        )

    def source_column(self, name: str) -> str:
        """The source column that feeds canonical field `name`."""
        return self.columns.get(name, name)


def _check_field(name: str, where: str) -> None:
    if name not in REQUEST_SPEC.names:
        raise InputError(
            f"{where}: {name!r} is not a canonical field; expected one of {', '.join(REQUEST_SPEC.names)}"
        )


def parse_map_options(options: Iterable[str]) -> Mapping:
    """A mapping from `--map FIELD=COLUMN` options; `--map request_id=@derive` (or
    `@derive:col1,col2`) derives request ids from every field (or the listed ones)."""
    fields: dict[str, str] = {}
    derive: tuple[str, ...] = ()
    for option in options:
        name, sep, column = option.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise InputError(f"--map {option!r}: expected FIELD=COLUMN")
        _check_field(name, f"--map {option}")
        if name == "request_id" and column.startswith("@derive"):
            listed = column.partition(":")[2]
            derive = tuple(c.strip() for c in listed.split(",") if c.strip()) or (DERIVE_ALL,)
            continue
        fields[name] = column
    return Mapping(fields=tuple(fields.items()), derive_request_id=derive)


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a YAML mapping file (see the module docstring for its keys)."""
    mapping_path = Path(path)
    try:
        document: Any = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read mapping file {mapping_path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{mapping_path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise InputError(f"{mapping_path}: expected a mapping with a 'fields' key")
    unknown = set(document) - {
        "fields",
        "derive_request_id",
        "format",
        "truth_label",
        "description",
    }
    if unknown:
        raise InputError(f"{mapping_path}: unknown keys {', '.join(sorted(unknown))}")
    raw_fields = document.get("fields") or {}
    if not isinstance(raw_fields, dict):
        raise InputError(f"{mapping_path}: 'fields' must map canonical fields to column names")
    fields: dict[str, str] = {}
    for name, column in raw_fields.items():
        _check_field(str(name), str(mapping_path))
        if not isinstance(column, str) or not column:
            raise InputError(f"{mapping_path}: column for {name!r} must be a non-empty string")
        fields[str(name)] = column
    derive_value = document.get("derive_request_id")
    derive: tuple[str, ...]
    if derive_value is None:
        derive = ()
    elif derive_value == DERIVE_ALL:
        derive = (DERIVE_ALL,)
    elif (
        isinstance(derive_value, list)
        and derive_value
        and all(isinstance(c, str) for c in derive_value)
    ):
        derive = tuple(derive_value)
    else:
        raise InputError(f"{mapping_path}: 'derive_request_id' must be 'all' or a list of names")
    container = document.get("format")
    if container is not None and container not in CONTAINERS:
        raise InputError(f"{mapping_path}: 'format' must be one of {', '.join(CONTAINERS)}")
    label = document.get("truth_label")
    if label is not None and not isinstance(label, str):
        raise InputError(f"{mapping_path}: 'truth_label' must be a column name")
    if "request_id" in fields and derive:
        raise InputError(f"{mapping_path}: map request_id to a column or derive it, not both")
    return Mapping(tuple(fields.items()), derive, container, label, source=str(mapping_path))


def derived_id_sql(mapping: Mapping, spec: RecordSpec) -> str:
    """SQL over the canonical relation: the derived request id (VARCHAR)."""
    names = list(mapping.derive_request_id)
    if names == [DERIVE_ALL]:
        parts = [quoted(name) + "::VARCHAR" for name in spec.names if name != "request_id"] + [
            "extra"
        ]
    else:
        by_column = {column: name for name, column in mapping.columns.items()}
        parts = []
        for name in names:
            canonical = name if name in spec.names else by_column.get(name)
            if canonical is not None:
                parts.append(f"{quoted(canonical)}::VARCHAR")
            else:
                parts.append(f"(extra::JSON ->> {json_path(name)})")
    joined = ", ".join(f"coalesce({part}, chr(0))" for part in parts)
    return f"{literal(DERIVED_PREFIX)} || left(sha256(concat_ws(chr(31), {joined})), 32)"


def _with_derived_id(mapping: Mapping, spec: RecordSpec, canonical: str) -> str:
    if not mapping.derive_request_id:
        return canonical
    derived = derived_id_sql(mapping, spec)
    return (
        f"SELECT * REPLACE (CASE WHEN reject IS NULL THEN {derived} END AS request_id, "
        f"CASE WHEN reject IS NULL THEN 'VARCHAR' END AS request_id__k) FROM ({canonical})"
    )


class MappedReader:
    """Reads JSON Lines, CSV or Parquet through a column mapping (the container is given)."""

    def __init__(self, container: str, mapping: Mapping) -> None:
        if container not in CONTAINERS:
            raise InputError(f"a mapping applies to {', '.join(CONTAINERS)} files, not {container}")
        self.container = container
        self.mapping = mapping
        self.format = f"{container}+map"
        self._base: JsonLinesReader | CsvReader | ParquetReader
        if container == "jsonl":
            self._base = JsonLinesReader()
        elif container == "csv":
            self._base = CsvReader()
        else:
            self._base = ParquetReader()

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        return self._base.batches(path, spec)

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        if isinstance(self._base, JsonLinesReader):
            return table, _jsonl_sql(self.mapping, spec)
        prepared, sql = self._base.canonical(_renamed(table, self.mapping.columns), spec)
        return prepared, _with_derived_id(self.mapping, spec, sql)


def _renamed(table: pa.Table, columns: FieldColumns[str, str]) -> pa.Table:
    """`table` with each mapped source column renamed to its canonical field; a column that
    already had a mapped field's name, but feeds another, is kept as `original_<name>`."""
    targets = {source: name for name, source in columns.items()}
    names: list[str] = []
    for name in table.column_names:
        if name in targets:
            names.append(targets[name])
        elif name in columns:
            names.append(f"original_{name}")
        else:
            names.append(name)
    return table.rename_columns(names)


@functools.cache
def _jsonl_sql(mapping: Mapping, spec: RecordSpec) -> str:
    names = [
        name for name in spec.names if not (mapping.derive_request_id and name == "request_id")
    ]
    columns = [mapping.source_column(name) for name in names]
    # One parse of each line pulls every column the mapping reads.
    paths = "[" + ", ".join(json_path(column) for column in columns) + "]"
    values = {name: f"cols[{index}]" for index, name in enumerate(names, start=1)}
    dropped = json.dumps(dict.fromkeys(sorted(set(columns))))
    extra = f"nullif(json_merge_patch(j, {literal(dropped)})::VARCHAR, '{{}}')"
    canonical = f"""
        SELECT line, raw, reject, {field_columns(spec, values)},
               CASE WHEN reject IS NULL THEN {extra} END AS extra
        FROM (SELECT *, json_extract(j, {paths}) AS cols
              FROM (SELECT line, raw, j, {LINE_REJECT} AS reject FROM ({PARSED_LINES})))
    """
    return _with_derived_id(mapping, spec, canonical)


__all__ = ["BATCH_VIEW", "MappedReader", "Mapping", "load_mapping", "parse_map_options"]
