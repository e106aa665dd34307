"""The canonical fields of the data contract (sections 1 and 2) and the limits ingest enforces."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_RECORD_BYTES = 1024 * 1024
"""A record (JSONL line, CSV row, Parquet row) above this size is quarantined, not stored."""

RAW_KEEP_BYTES = 64 * 1024
"""How much of an oversize record's text the quarantine keeps."""

MIN_TIMESTAMP = "2000-01-01T00:00:00Z"
MAX_TIMESTAMP = "2100-01-01T00:00:00Z"
"""Timestamps outside [MIN, MAX) are quarantined as out of range."""

EPOCH_MILLIS_FROM = 100_000_000_000
"""An epoch number at or above this is milliseconds (1e11 s is the year 5138), below it seconds."""


class Kind(StrEnum):
    """How a field's value is checked and stored."""

    STRING = "string"
    IP = "ip"
    TIMESTAMP = "timestamp"
    COUNT = "count"  # integer >= 0
    INTEGER = "integer"
    MESSAGES = "messages"  # array of {"role": str, "content": str}
    TOOLS = "tools"  # array of tool names or tool definition objects


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False


@dataclass(frozen=True)
class RecordSpec:
    """The fields of one kind of input record, the key that identifies a record, its table, and
    which enrichment columns (lookup column, store column) its IP field fills."""

    name: str
    table: str
    key: str
    fields: tuple[Field, ...]
    ip_field: str
    enrichment: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)


REQUEST_SPEC = RecordSpec(
    "requests",
    "requests",
    "request_id",
    (
        Field("request_id", Kind.STRING, required=True),
        Field("timestamp", Kind.TIMESTAMP, required=True),
        Field("account_id", Kind.STRING, required=True),
        Field("api_key_id", Kind.STRING),
        Field("org_id", Kind.STRING),
        Field("client_ip", Kind.IP, required=True),
        Field("user_agent", Kind.STRING),
        Field("model", Kind.STRING, required=True),
        Field("system_prompt", Kind.STRING),
        Field("prompt", Kind.STRING, required=True),
        Field("messages", Kind.MESSAGES),
        Field("tools", Kind.TOOLS),
        Field("input_tokens", Kind.COUNT),
        Field("output_tokens", Kind.COUNT),
        Field("status_code", Kind.INTEGER),
    ),
    ip_field="client_ip",
    enrichment=(
        ("ip_prefix", "ip_prefix"),
        ("asn", "asn"),
        ("as_name", "as_name"),
        ("country", "country"),
        ("network_class", "network_class"),
    ),
)

ACCOUNT_SPEC = RecordSpec(
    "accounts",
    "accounts",
    "account_id",
    (
        Field("account_id", Kind.STRING, required=True),
        Field("created_at", Kind.TIMESTAMP),
        Field("email_domain", Kind.STRING),
        Field("payment_fingerprint", Kind.STRING),
        Field("country", Kind.STRING),
        Field("signup_ip", Kind.IP),
        Field("org_id", Kind.STRING),
        Field("tier", Kind.STRING),
    ),
    ip_field="signup_ip",
    enrichment=(
        ("ip_prefix", "signup_prefix"),
        ("asn", "signup_asn"),
        ("network_class", "signup_network_class"),
    ),
)
