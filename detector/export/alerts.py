"""Campaign alerts and account scores read from the store into typed records.

Every export format starts here, so they all agree on which campaigns are alerts, on their
status (the analyst's latest verdict wins over the status the last scan stored) and on order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from detector.rules.schema import ATLAS_TECHNIQUE

STATUSES = ("new", "confirmed", "dismissed")
SEVERITIES = ("low", "medium", "high", "critical")
# Indicator kinds every alert carries, empty when the scan found none (contract §6).
INDICATOR_KINDS = ("ips", "prefixes", "asns", "payment_fingerprints", "template_fingerprints")

_ALERTS_SQL = """
WITH verdict AS (
    SELECT subject_id AS campaign_id, lower(verdict) AS verdict
    FROM verdicts
    WHERE lower(subject_type) = 'campaign'
    QUALIFY row_number() OVER (PARTITION BY subject_id ORDER BY decided_at DESC) = 1
),
members AS (
    SELECT campaign_id, list(DISTINCT account_id ORDER BY account_id) AS accounts
    FROM campaign_accounts GROUP BY campaign_id
),
alerts AS (
    SELECT c.*, coalesce(m.accounts, []::VARCHAR[]) AS accounts,
           CASE v.verdict
               WHEN 'confirmed' THEN 'confirmed'
               WHEN 'dismissed' THEN 'dismissed'
               WHEN 'allowlisted' THEN 'dismissed'
               ELSE c.status
           END AS effective_status
    FROM campaigns c
    LEFT JOIN verdict v USING (campaign_id)
    LEFT JOIN members m USING (campaign_id)
)
SELECT alert_id, campaign_id, title, severity, score, accounts, request_count,
       first_seen, last_seen, signals, rules, indicators, tags, effective_status,
       created_at, updated_at
FROM alerts
-- An alert stays exportable after an analyst's verdict (a dismissal turns `alerted` off at
-- the next scan), so downstream systems can close what they opened.
WHERE (alerted OR effective_status <> 'new')
  AND (?::TIMESTAMPTZ IS NULL OR last_seen >= ?::TIMESTAMPTZ)
  AND (?::VARCHAR IS NULL OR effective_status = ?::VARCHAR)
ORDER BY last_seen NULLS LAST, campaign_id
"""

_ACCOUNTS_SQL = """
SELECT account_id, score, campaign_id, flagged
FROM account_scores
QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY scan_run_id DESC NULLS LAST) = 1
ORDER BY account_id
"""


def rfc3339(value: datetime | None) -> str | None:
    """A UTC time as RFC 3339 with a `Z` suffix (fractional seconds only when present)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Alert:
    """One campaign alert as the contract (§6) describes it, plus the store's bookkeeping times."""

    alert_id: str
    campaign_id: str
    title: str
    severity: str
    score: float
    accounts: tuple[str, ...]
    request_count: int
    first_seen: datetime | None
    last_seen: datetime | None
    signals: dict[str, Any]
    rules: tuple[str, ...]
    indicators: dict[str, list[Any]]
    tags: tuple[str, ...]
    status: str
    created_at: datetime
    updated_at: datetime

    def to_json_obj(self) -> dict[str, Any]:
        """The JSONL object of contract §6, in the contract's field order."""
        return {
            "alert_id": self.alert_id,
            "campaign_id": self.campaign_id,
            "title": self.title,
            "severity": self.severity,
            "score": self.score,
            "accounts": list(self.accounts),
            "request_count": self.request_count,
            "first_seen": rfc3339(self.first_seen),
            "last_seen": rfc3339(self.last_seen),
            "signals": self.signals,
            "rules": list(self.rules),
            "indicators": self.indicators,
            "tags": list(self.tags),
            "status": self.status,
        }

    @property
    def is_new_finding(self) -> bool:
        """True until a later scan or a verdict has touched the campaign."""
        return self.status == "new" and self.created_at == self.updated_at


def _json(value: Any, default: Any) -> Any:
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def _indicators(raw: Any) -> dict[str, list[Any]]:
    found = _json(raw, {})
    merged: dict[str, list[Any]] = {kind: list(found.get(kind) or []) for kind in INDICATOR_KINDS}
    for kind, values in sorted(found.items()):
        merged.setdefault(kind, list(values or []))
    return merged


def _tags(raw: Any) -> tuple[str, ...]:
    tags = [str(t) for t in _json(raw, [])]
    return tuple(tags if ATLAS_TECHNIQUE in tags else sorted([*tags, ATLAS_TECHNIQUE]))


def load_alerts(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    status: str | None = None,
) -> list[Alert]:
    """Alerted campaigns (and campaigns with a verdict), last seen at or after `since` and
    with the given status, ordered by last sighting then campaign id."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    rows = con.execute(_ALERTS_SQL, [since, since, status, status]).fetchall()
    return [
        Alert(
            alert_id=str(r[0]),
            campaign_id=str(r[1]),
            title=str(r[2]),
            severity=str(r[3]),
            score=float(r[4]),
            accounts=tuple(str(a) for a in r[5]),
            request_count=int(r[6]),
            first_seen=r[7],
            last_seen=r[8],
            signals=_json(r[9], {}),
            rules=tuple(str(x) for x in _json(r[10], [])),
            indicators=_indicators(r[11]),
            tags=_tags(r[12]),
            status=str(r[13]),
            created_at=r[14],
            updated_at=r[15],
        )
        for r in rows
    ]


def load_account_scores(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every scored account, once (the latest scan's row), ordered by account id (contract §7)."""
    frame = pl.from_arrow(con.sql(_ACCOUNTS_SQL).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        pl.col("account_id").cast(pl.String),
        pl.col("score").cast(pl.Float64),
        pl.col("campaign_id").cast(pl.String),
        pl.col("flagged").cast(pl.Boolean),
    )


def new_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts no analyst has decided on yet: what a webhook pushes."""
    return [a for a in alerts if a.status == "new"]
