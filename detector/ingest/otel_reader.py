"""OpenTelemetry GenAI spans: OTLP JSON Lines as the OpenTelemetry file exporter writes them.

Each line is one `ExportTraceServiceRequest` (`resourceSpans[].scopeSpans[].spans[]`); every
GenAI inference span (`gen_ai.operation.name` `chat`, `text_completion` or `generate_content`,
or no operation but a `gen_ai.request.model`/`gen_ai.system`/`gen_ai.provider.name`) becomes
one request. Other spans (HTTP, database, embeddings, tool calls, agents) are skipped and
counted in `skipped`. Attribute names follow the GenAI semantic conventions, current and
deprecated (`gen_ai.usage.prompt_tokens`, `gen_ai.prompt`, per-message events, the flattened
`gen_ai.prompt.N.role/content` of OpenLLMetry); values may be structured `AnyValue`s or JSON
text, and `intValue` a string or a number. A line (one export batch) may be far larger than
the record limit, which applies to each span instead (`detector.ingest.export_lines`); the
spans are unpacked in SQL on a private DuckDB connection, so there is no Python per span.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from detector.ingest.chat import (
    conversation_messages,
    conversation_prompt,
    conversation_system,
    instructions_text,
)
from detector.ingest.export_lines import iter_export_lines
from detector.ingest.jsonl_reader import open_maybe_gzip
from detector.ingest.projection import (
    LINE_REJECT,
    OVERSIZE_REJECT,
    PARSED_LINES,
    field_columns,
    first_present,
    staged_values,
    unpacked_json,
)
from detector.ingest.readers import (
    BATCH_VIEW,
    Batch,
    integer_text_json,
    is_json_kind,
    literal,
    quoted,
)
from detector.ingest.schema import RecordSpec

DEFAULT_ACCOUNT_ATTRIBUTES: tuple[str, ...] = ("user.id", "enduser.id")
INFERENCE_OPERATIONS = "('chat', 'text_completion', 'generate_content')"
ANYVALUE_DEPTH = 6
"""Nesting of structured attribute values unpacked (messages need 4: list, message, parts, part)."""

SKIP = "__skip"
SPAN_MEMORY_LIMIT = "1GB"
BATCH_BYTES = 4 * 1024 * 1024
"""Export lines are unpacked in batches of about this size (or one line, if larger)."""
KEY_VALUES = '[{"key": "VARCHAR", "value": "JSON"}]'
"""The JSON structure of an OTLP attribute list, read once into typed structs."""


_STRING = r'"(?:[^"\\]|\\.)*"'
_ATOM = r'(?:"(?:[^"\\]|\\.)*"|[^{}\[\]"])*'
_OPEN_ARRAY, _CLOSE_ARRAY, _OPEN_OBJECT, _CLOSE_OBJECT = "\ue000", "\ue001", "\ue002", "\ue003"
_SCALARS = (
    (r'\{"stringValue":(' + _STRING + r")\}", r"\1"),
    (r'\{"intValue":"?\s*(-?\d+)\s*"?\}', r"\1"),
    (r'\{"doubleValue":("?[^{}\[\]",]*"?)\}', r"\1"),
    (r'\{"boolValue":(true|false)\}', r"\1"),
    (r'\{"bytesValue":(' + _STRING + r")\}", r"\1"),
    (r'\{"(?:arrayValue|kvlistValue)":\{\}\}', _OPEN_ARRAY + _CLOSE_ARRAY),
)
_NESTED = (
    (r'\{"arrayValue":\{"values":\[(' + _ATOM + r")\]\}\}", _OPEN_ARRAY + r"\1" + _CLOSE_ARRAY),
    (r'\{"key":(' + _STRING + r'),"value":(' + _ATOM + r")\}", r"\1:\2"),
    (r'\{"kvlistValue":\{"values":\[(' + _ATOM + r")\]\}\}", _OPEN_OBJECT + r"\1" + _CLOSE_OBJECT),
)


def _anyvalue(value: str, depth: int) -> str:
    """SQL: an OTLP `AnyValue` (JSON) as plain JSON, unpacking nested arrays and key-value lists
    up to `depth` levels. The innermost structures are rewritten first, pass after pass, with
    regular expressions over the JSON text; a rewritten structure gets private-use brackets so
    the next pass sees it as an atom, and real brackets are restored at the end."""
    text = f"({value})::VARCHAR"
    for pattern, replacement in _SCALARS:
        text = f"regexp_replace({text}, {literal(pattern)}, {literal(replacement)}, 'g')"
    for _ in range(depth - 1):
        for pattern, replacement in _NESTED:
            text = f"regexp_replace({text}, {literal(pattern)}, {literal(replacement)}, 'g')"
    restored = f"translate({text}, {literal(_OPEN_ARRAY + _CLOSE_ARRAY + _OPEN_OBJECT + _CLOSE_OBJECT)}, '[]{{}}')"
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE try(json({restored})) END"


def _scalar(value: str) -> str:
    """SQL: a scalar OTLP `AnyValue` as plain JSON (structured values come back as their JSON)."""
    as_json = f"json_extract({value}, '$.intValue')"
    as_text = f"{value} ->> '$.intValue'"
    integer = (  # OTLP JSON spells int64 values as strings
        f"CASE WHEN json_type({value}, '$.intValue') = 'VARCHAR' "
        f"THEN coalesce({integer_text_json(as_text)}, {as_json}) ELSE {as_json} END"
    )
    return (
        f"CASE WHEN {value} IS NULL THEN NULL "
        f"WHEN json_exists({value}, '$.stringValue') THEN json_extract({value}, '$.stringValue') "
        f"WHEN json_exists({value}, '$.intValue') THEN {integer} "
        f"WHEN json_exists({value}, '$.doubleValue') THEN json_extract({value}, '$.doubleValue') "
        f"WHEN json_exists({value}, '$.boolValue') THEN json_extract({value}, '$.boolValue') "
        f"ELSE {_anyvalue(value, 3)} END"
    )


def _raw_attribute(key: str, attributes: str = "a") -> str:
    """SQL: the `AnyValue` of the first attribute named `key` in the list `attributes`."""
    return f"(list_filter({attributes}, lambda kv: kv.key = {literal(key)})[1].value)"


def _attribute(key: str) -> str:
    """SQL: the column that holds attribute `key` as plain JSON (see `_spans_sql`)."""
    return quoted("attr:" + key)


SCALAR_ATTRIBUTES = (
    "gen_ai.response.id",
    "client.address",
    "http.client_ip",
    "user_agent.original",
    "http.user_agent",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "http.response.status_code",
    "http.status_code",
    "gen_ai.operation.name",
    "llm.request.type",
    "gen_ai.provider.name",
    "gen_ai.system",
    "session.id",
)
STRUCTURED_ATTRIBUTES = (
    "gen_ai.input.messages",
    "gen_ai.prompt",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)


def _hex_id(value: str, length: int) -> str:
    """SQL: a trace or span id as lowercase hex, whether written as hex or (protobuf JSON) base64."""
    text = f"({value} ->> '$')"
    return (
        f"CASE WHEN regexp_full_match({text}, '[0-9a-fA-F]{{{length}}}') THEN lower({text}) "
        f"ELSE coalesce(lower(try(hex(from_base64({text})))), {text}) END"
    )


def _timestamp(value: str) -> str:
    """SQL JSON: `startTimeUnixNano` (a uint64 as string or number) as RFC 3339 text."""
    nanos = f"coalesce(try_cast(({value} ->> '$') AS HUGEINT), try_cast(try_cast(({value} ->> '$') AS DOUBLE) AS HUGEINT))"
    stamp = f"try(strftime(make_timestamp(({nanos} // 1000)::BIGINT), '%Y-%m-%dT%H:%M:%S.%fZ'))"
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE coalesce(to_json({stamp}), {value}) END"


def _role_events() -> str:
    """SQL JSON: a conversation rebuilt from per-message events (`gen_ai.user.message`, ...)."""
    event_attributes = f"json_transform(json_extract(e, '$.attributes'), {literal(KEY_VALUES)})"
    content = _anyvalue(_raw_attribute("content", event_attributes), 4)
    role = (
        f"coalesce({_raw_attribute('role', event_attributes)} ->> '$.stringValue', "
        "regexp_extract(e ->> '$.name', '^gen_ai\\.(\\w+)\\.message$', 1))"
    )
    return (
        "nullif(to_json(list_transform(list_filter(coalesce(events, []), lambda e: "
        "regexp_full_match(e ->> '$.name', 'gen_ai\\.(system|user|assistant|tool)\\.message')), "
        f"lambda e: {{'role': {role}, 'content': {unpacked_json(content)}}})), '[]')"
    )


def _flattened_prompt() -> str:
    """SQL JSON: a conversation from OpenLLMetry's flattened `gen_ai.prompt.N.role/content`."""
    role = "list_filter(a, lambda y: y.key = replace(x.key, '.content', '.role'))[1].value ->> '$.stringValue'"
    entries = (
        "list_transform(list_filter(a, lambda x: starts_with(x.key, 'gen_ai.prompt.') "
        "AND regexp_full_match(x.key, 'gen_ai\\.prompt\\.\\d+\\.content')), "
        "lambda x: {'i': regexp_extract(x.key, '(\\d+)', 1)::INTEGER, "
        f"'role': {role}, 'content': x.value ->> '$.stringValue'}})"
    )
    return (
        f"nullif(to_json(list_transform(list_sort({entries}), "
        "lambda m: {'role': m.role, 'content': m.content})), '[]')"
    )


class OtelReader:
    """Reads OTLP JSON Lines trace exports; `skipped` counts the non-inference spans seen."""

    format = "otel"

    def __init__(self, account_attributes: Sequence[str] = DEFAULT_ACCOUNT_ATTRIBUTES) -> None:
        self.account_attributes = tuple(account_attributes) or DEFAULT_ACCOUNT_ATTRIBUTES
        self.skipped = 0
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        stream, underlying = open_maybe_gzip(path)
        with stream, underlying:
            for table in iter_export_lines(stream, chunk_bytes=BATCH_BYTES):
                yield Batch(table, underlying.tell())

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        with self._lock:
            if self._con is None:
                self._con = duckdb.connect()
                self._con.execute("SET TimeZone = 'UTC'")
                self._con.execute("SET memory_limit = ?", [SPAN_MEMORY_LIMIT])
                self._con.execute("SET preserve_insertion_order = false")
            cursor = self._con.cursor()
        try:
            cursor.register(BATCH_VIEW, table)
            spans = cursor.sql(_spans_sql(spec, self.account_attributes)).to_arrow_table()
        finally:
            cursor.close()
        skip = spans.column(SKIP)
        skipped = int(pc.sum(pc.cast(skip, pa.int64())).as_py() or 0)
        with self._lock:
            self.skipped += skipped
        kept = spans.filter(pc.invert(skip)).drop_columns([SKIP])
        json_fields = [f.name for f in spec.fields if is_json_kind(f.kind)]
        replace = ", ".join(f"{quoted(name)}::JSON AS {quoted(name)}" for name in json_fields)
        select = (
            f"SELECT * REPLACE ({replace}) FROM {BATCH_VIEW}"
            if replace
            else f"SELECT * FROM {BATCH_VIEW}"
        )
        return kept, select

    def close(self) -> None:
        """Release the private DuckDB connection."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


@functools.cache
def _spans_sql(spec: RecordSpec, account_attributes: tuple[str, ...]) -> str:
    """SQL over a line batch: one row per span (inference or not, flagged `__skip`) and one per
    line that holds no trace export, in the canonical relation's columns."""
    conversation = (
        "coalesce(nullif(input_messages, 'null'::JSON), "
        "CASE WHEN json_type(legacy_prompt) = 'ARRAY' THEN legacy_prompt END, flat_prompt, event_messages)"
    )
    legacy_text = "CASE WHEN json_type(legacy_prompt) = 'VARCHAR' THEN legacy_prompt ->> '$' END"
    response_id = first_present([_attribute("gen_ai.response.id")])
    span_key = (
        "CASE WHEN trace_id IS NOT NULL AND span_id IS NOT NULL "
        "THEN to_json('otel-' || trace_id || '-' || span_id) END"
    )
    values = {
        "request_id": f"coalesce({response_id}, {span_key})",
        "timestamp": _timestamp("json_extract(span, '$.startTimeUnixNano')"),
        "account_id": first_present([_attribute(key) for key in account_attributes]),
        "client_ip": first_present([_attribute("client.address"), _attribute("http.client_ip")]),
        "user_agent": first_present(
            [_attribute("user_agent.original"), _attribute("http.user_agent")]
        ),
        "model": first_present(
            [_attribute("gen_ai.request.model"), _attribute("gen_ai.response.model")]
        ),
        "system_prompt": (
            f"to_json(coalesce({instructions_text('instructions')}, {conversation_system('conversation')}))"
        ),
        "prompt": f"to_json(coalesce({conversation_prompt('conversation')}, legacy_text))",
        "messages": conversation_messages("conversation"),
        "tools": "tool_definitions",
        "input_tokens": first_present(
            [_attribute("gen_ai.usage.input_tokens"), _attribute("gen_ai.usage.prompt_tokens")]
        ),
        "output_tokens": first_present(
            [
                _attribute("gen_ai.usage.output_tokens"),
                _attribute("gen_ai.usage.completion_tokens"),
            ]
        ),
        "status_code": first_present(
            [_attribute("http.response.status_code"), _attribute("http.status_code")]
        ),
    }
    operation = f"coalesce({_attribute('gen_ai.operation.name')} ->> '$', {_attribute('llm.request.type')} ->> '$')"
    has_genai = " OR ".join(
        f"{_attribute(key)} IS NOT NULL"
        for key in ("gen_ai.request.model", "gen_ai.system", "gen_ai.provider.name")
    )
    extra = (
        "json_object('trace_id', trace_id, 'span_id', span_id, 'span_name', span ->> '$.name', "
        f"'operation', {operation}, "
        f"'provider', coalesce({_attribute('gen_ai.provider.name')}, {_attribute('gen_ai.system')}) ->> '$', "
        f"'response_model', {_attribute('gen_ai.response.model')} ->> '$', "
        f"'session_id', {_attribute('session.id')} ->> '$')::VARCHAR"
    )
    staged, refs = staged_values(values)
    keys = (*SCALAR_ATTRIBUTES, *STRUCTURED_ATTRIBUTES, *account_attributes)
    looked_up = ", ".join(
        f"{_raw_attribute(key)} AS {quoted('raw:' + key)}" for key in dict.fromkeys(keys)
    )
    converted = ", ".join(
        f"{_anyvalue(quoted('raw:' + key), ANYVALUE_DEPTH) if key in STRUCTURED_ATTRIBUTES else _scalar(quoted('raw:' + key))}"
        f" AS {_attribute(key)}"
        for key in dict.fromkeys(keys)
    )
    return f"""
        WITH lines AS ({PARSED_LINES}),
        judged AS (
            SELECT line, raw, j, coalesce({LINE_REJECT},
                   CASE WHEN json_type(j, '$.resourceSpans') IS DISTINCT FROM 'ARRAY'
                        THEN 'not an OTLP trace export (no resourceSpans array)' END) AS reject
            FROM lines
        ),
        resources AS (
            SELECT line, unnest(json_extract(j, '$.resourceSpans[*]')) AS rs FROM judged WHERE reject IS NULL
        ),
        scopes AS (
            SELECT line, coalesce(try(json_transform(json_extract(rs, '$.resource.attributes'), {literal(KEY_VALUES)})), []) AS resource_attributes,
                   unnest(coalesce(json_extract(rs, '$.scopeSpans[*]'), json_extract(rs, '$.instrumentationLibrarySpans[*]'))) AS ss
            FROM resources
        ),
        spans AS (
            SELECT line, resource_attributes, unnest(json_extract(ss, '$.spans[*]')) AS span FROM scopes
        ),
        attributed AS (
            SELECT line, span, span::VARCHAR AS raw,
                   coalesce(json_extract(span, '$.events[*]'), []) AS events,
                   list_concat(coalesce(try(json_transform(json_extract(span, '$.attributes'), {literal(KEY_VALUES)})), []),
                               flatten(list_transform(coalesce(json_extract(span, '$.events[*]'), []),
                                       lambda e: coalesce(try(json_transform(json_extract(e, '$.attributes'), {literal(KEY_VALUES)})), []))),
                               resource_attributes) AS a,
                   {_hex_id("json_extract(span, '$.traceId')", 32)} AS trace_id,
                   {_hex_id("json_extract(span, '$.spanId')", 16)} AS span_id
            FROM spans
        ),
        looked_up AS (
            SELECT *, {looked_up} FROM attributed
        ),
        converted AS (
            SELECT *, {converted} FROM looked_up
        ),
        unpacked AS (
            SELECT *,
                   {unpacked_json(_attribute("gen_ai.input.messages"))} AS input_messages,
                   {unpacked_json(_attribute("gen_ai.prompt"))} AS legacy_prompt,
                   {unpacked_json(_attribute("gen_ai.system_instructions"))} AS instructions,
                   {unpacked_json(_attribute("gen_ai.tool.definitions"))} AS tool_definitions,
                   {_flattened_prompt()} AS flat_prompt,
                   {_role_events()} AS event_messages,
                   NOT coalesce({operation} IN {INFERENCE_OPERATIONS}
                                OR ({operation} IS NULL AND ({has_genai})), false) AS {SKIP}
            FROM converted
        ),
        conversed AS (
            SELECT *, {conversation} AS conversation, {legacy_text} AS legacy_text FROM unpacked
        ),
        valued AS (
            SELECT *, {staged} FROM conversed
        )
        SELECT line, raw, {OVERSIZE_REJECT} AS reject, {field_columns(spec, refs)},
               {extra} AS extra, {SKIP}
        FROM valued
        UNION ALL BY NAME
        SELECT line, raw, reject, false AS {SKIP} FROM judged WHERE reject IS NOT NULL
    """
