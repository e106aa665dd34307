"""LiteLLM proxy spend logs: `LiteLLM_SpendLogs` rows exported as JSON Lines or CSV.

Column mapping: `request_id`; `startTime` (LiteLLM stores UTC without an offset, so a time
without one is read as UTC); the account from the first non-empty of the configured columns
(default `user`, then `api_key`); `api_key` as `api_key_id`; `organization_id` (or the
metadata's `user_api_key_org_id`) as `org_id`; `requester_ip_address` (or the metadata's) as
`client_ip`; the `user-agent` header (from `proxy_server_request` or the metadata's
`headers`) as `user_agent`; `model` (or `model_group`); `prompt_tokens`, `completion_tokens`; `status`
`success` as 200 (LiteLLM logs no HTTP code; a failure's code is taken from the metadata's
`error_information.error_code` when numeric). `messages` (the request's chat messages,
logged when `store_prompts_in_spend_logs` is on) give `system_prompt`, `prompt` and
`messages`; tools come from `proxy_server_request.tools`. JSON columns may be JSON text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from detector.errors import InputError
from detector.ingest.chat import conversation_messages, conversation_prompt, conversation_system
from detector.ingest.csv_reader import MALFORMED, CsvReader
from detector.ingest.jsonl_reader import JsonLinesReader
from detector.ingest.projection import (
    LINE_REJECT,
    OVERSIZE_REJECT,
    PARSED_LINES,
    field_columns,
    first_present,
    json_member,
    json_path,
    staged_values,
    unpacked_json,
)
from detector.ingest.readers import BATCH_VIEW, Batch, integer_text_json, literal, quoted
from detector.ingest.schema import RecordSpec

DEFAULT_ACCOUNT_COLUMNS: tuple[str, ...] = ("user", "api_key")
SPEND_LOG_COLUMNS = frozenset(
    {"request_id", "call_type", "api_key", "spend", "startTime", "endTime", "model", "user"}
)
"""Columns whose presence together marks a file as LiteLLM spend logs."""
KNOWN_COLUMNS = (
    "request_id",
    "startTime",
    "user",
    "api_key",
    "organization_id",
    "requester_ip_address",
    "model",
    "model_group",
    "prompt_tokens",
    "completion_tokens",
    "status",
    "messages",
    "metadata",
    "proxy_server_request",
    "end_user",
    "team_id",
)

BATCH_BYTES = 4 * 1024 * 1024
"""Rows are read in batches of about this size: each row's JSON is unpacked several ways."""
COUNT_COLUMNS = ("prompt_tokens", "completion_tokens")
Getter = Callable[[str], str]


def _timestamp(value: str) -> str:
    """SQL JSON: a LiteLLM time; text without an offset is UTC, so it gets a `Z`."""
    naive = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$"
    return (
        f"CASE WHEN json_type({value}) = 'VARCHAR' AND regexp_full_match(trim({value} ->> '$'), {literal(naive)}) "
        f"THEN to_json(trim({value} ->> '$') || 'Z') ELSE {value} END"
    )


def _status(status: str, metadata: str) -> str:
    code = f"json_extract({metadata}, '$.error_information.error_code')"
    return (
        f"CASE WHEN lower({status} ->> '$') = 'success' THEN to_json(200) "
        f"WHEN regexp_full_match({code} ->> '$', '\\d{{3}}') THEN json({code} ->> '$') END"
    )


def _values(get: Getter, accounts: Sequence[str]) -> dict[str, str]:
    metadata = "meta_json"
    request = "request_json"
    meta = functools.partial(json_member, metadata)
    return {
        "request_id": get("request_id"),
        "timestamp": _timestamp(get("startTime")),
        "account_id": first_present([get(column) for column in accounts]),
        "api_key_id": first_present([get("api_key")]),
        "org_id": first_present([get("organization_id"), meta("user_api_key_org_id")]),
        "client_ip": first_present([get("requester_ip_address"), meta("requester_ip_address")]),
        "user_agent": first_present(
            [
                f"json_extract({request}, '$.headers.\"user-agent\"')",
                f"json_extract({metadata}, '$.headers.\"user-agent\"')",
            ]
        ),
        "model": first_present([get("model"), get("model_group")]),
        "system_prompt": f"to_json({conversation_system('conversation')})",
        "prompt": f"to_json({conversation_prompt('conversation')})",
        "messages": conversation_messages("conversation"),
        "tools": f"nullif(json_extract({request}, '$.tools'), 'null'::JSON)",
        "input_tokens": get("prompt_tokens"),
        "output_tokens": get("completion_tokens"),
        "status_code": _status(get("status"), metadata),
    }


def _select(
    spec: RecordSpec,
    get: Getter,
    accounts: Sequence[str],
    source: str,
    raw: str,
    reject: str,
    extra: str,
) -> str:
    """SQL: the canonical relation of spend-log rows read from `source`."""
    conversation = unpacked_json(get("messages"))
    staged, refs = staged_values(_values(get, accounts))
    return f"""
        WITH rows AS (
            SELECT *, {unpacked_json(get("metadata"))} AS meta_json,
                   {unpacked_json(get("proxy_server_request"))} AS request_json,
                   {conversation} AS logged_conversation,
                   {raw} AS raw_text, {reject} AS row_reject
            FROM {source}
        ), conversed AS (
            -- LiteLLM writes `{{}}` when prompts are not stored
            SELECT *, CASE WHEN logged_conversation::VARCHAR IN ('{{}}', '""') THEN NULL
                           ELSE logged_conversation END AS conversation
            FROM rows
        )
        , valued AS (SELECT *, {staged} FROM conversed)
        SELECT line, raw_text AS raw,
               coalesce(row_reject, {OVERSIZE_REJECT.replace("raw", "raw_text")}) AS reject,
               {field_columns(spec, refs)}, {extra} AS extra
        FROM valued
    """


class LiteLLMReader:
    """Reads LiteLLM spend-log rows from JSON Lines or CSV (chosen by `container`)."""

    format = "litellm"

    def __init__(
        self, container: str = "jsonl", account_columns: Sequence[str] = DEFAULT_ACCOUNT_COLUMNS
    ) -> None:
        if container not in ("jsonl", "csv"):
            raise InputError(f"LiteLLM spend logs are read from JSON Lines or CSV, not {container}")
        self.container = container
        self.account_columns = tuple(account_columns) or DEFAULT_ACCOUNT_COLUMNS
        self._rows: JsonLinesReader | CsvReader = (
            JsonLinesReader(chunk_bytes=BATCH_BYTES)
            if container == "jsonl"
            else CsvReader(BATCH_BYTES)
        )

    def batches(self, path: Path, spec: RecordSpec) -> Iterator[Batch]:
        return self._rows.batches(path, spec)

    def canonical(self, table: pa.Table, spec: RecordSpec) -> tuple[pa.Table, str]:
        if self.container == "jsonl":
            return table, _jsonl_sql(spec, self.account_columns)
        columns = tuple(name for name in table.column_names if name != "line")
        for name in (*KNOWN_COLUMNS, MALFORMED):
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
        return table, _csv_sql(spec, self.account_columns, columns)


@functools.cache
def _jsonl_sql(spec: RecordSpec, accounts: tuple[str, ...]) -> str:
    wanted = tuple(dict.fromkeys((*KNOWN_COLUMNS, *accounts)))
    position = {name: index for index, name in enumerate(wanted, start=1)}

    def get(column: str) -> str:
        return f"cols[{position[column]}]"

    dropped = "{" + ",".join(f'"{name}":null' for name in KNOWN_COLUMNS) + "}"
    paths = "[" + ", ".join(json_path(name) for name in wanted) + "]"
    # One parse of each line pulls every column the mapping reads.
    source = (
        f"(SELECT *, json_extract(j, {paths}) AS cols FROM "
        f"(SELECT *, {LINE_REJECT} AS line_reject FROM ({PARSED_LINES})))"
    )
    extra = f"nullif(json_merge_patch(j, {literal(dropped)})::VARCHAR, '{{}}')"
    return _select(spec, get, accounts, source, "raw", "line_reject", extra)


@functools.cache
def _csv_sql(spec: RecordSpec, accounts: tuple[str, ...], columns: tuple[str, ...]) -> str:
    def get(column: str) -> str:
        cell = quoted(column)
        if (
            column in COUNT_COLUMNS
        ):  # a CSV cell is text: counts are numbers when they look like one
            return (
                f"CASE WHEN {cell} IS NULL OR {cell} = '' THEN NULL "
                f"ELSE coalesce({integer_text_json(cell)}, to_json({cell})) END"
            )
        return f"CASE WHEN {cell} IS NULL OR {cell} = '' THEN NULL ELSE to_json({cell}) END"

    row = (
        "json_object("
        + ", ".join(f"{literal(name)}, {quoted(name)}" for name in columns)
        + ")::VARCHAR"
    )
    raw = f"coalesce({quoted(MALFORMED)}, {row})"
    reject = f"CASE WHEN {quoted(MALFORMED)} IS NOT NULL THEN 'malformed CSV row (wrong number of fields)' END"
    others = [name for name in columns if name not in KNOWN_COLUMNS]
    extra = (
        "nullif(json_object("
        + ", ".join(f"{literal(name)}, {quoted(name)}" for name in others)
        + ")::VARCHAR, '{}')"
        if others
        else "NULL::VARCHAR"
    )
    return _select(spec, get, accounts, BATCH_VIEW, raw, reject, extra)
