"""Writing analysts' verdicts: one function with bound parameters, used by the CLI and the
dashboard, producing rows that `detector.scoring.verdicts.load_verdicts` applies at the next scan.

The `verdicts` table is append-only: every decision stays as the audit trail and the newest one
per subject wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from detector import store
from detector.errors import DistillguardError

SUBJECT_TYPES = ("campaign", "account", "org")
VERDICTS = ("confirmed", "dismissed", "allowlisted")
MAX_NOTE_CHARS = 4000
MAX_ANALYST_CHARS = 200


class VerdictError(DistillguardError):
    """A verdict that cannot be recorded: unknown subject, verdict or missing analyst."""


@dataclass(frozen=True)
class VerdictRecord:
    """One row of the audit trail."""

    subject_type: str
    subject_id: str
    verdict: str
    analyst: str
    note: str | None
    decided_at: datetime


def _subject_exists(con: duckdb.DuckDBPyConnection, subject_type: str, subject_id: str) -> bool:
    sql = {
        "campaign": "SELECT count(*) FROM campaigns WHERE campaign_id = ?",
        "account": "SELECT (SELECT count(*) FROM account_scores WHERE account_id = ?)"
        " + (SELECT count(*) FROM accounts WHERE account_id = ?)",
        "org": "SELECT (SELECT count(*) FROM accounts WHERE org_id = ?)"
        " + (SELECT count(*) FROM (SELECT 1 FROM requests WHERE org_id = ? LIMIT 1))",
    }[subject_type]
    params = [subject_id] if subject_type == "campaign" else [subject_id, subject_id]
    rows = con.execute(sql, params).fetchall()
    return bool(rows and rows[0][0])


def record_verdict(
    con: duckdb.DuckDBPyConnection,
    subject_type: str,
    subject_id: str,
    verdict: str,
    analyst: str,
    note: str | None = None,
    *,
    decided_at: datetime | None = None,
    require_known: bool = True,
) -> VerdictRecord:
    """Validate and append one verdict; the next scan applies it (a dismissed or allowlisted
    campaign stops alerting, an allowlisted account or org leaves every campaign)."""
    subject_type = subject_type.strip().lower()
    verdict = verdict.strip().lower()
    subject_id = subject_id.strip()
    analyst = analyst.strip()
    note = note.strip() if note else None
    if subject_type not in SUBJECT_TYPES:
        raise VerdictError(f"unknown subject type {subject_type!r}; expected one of {', '.join(SUBJECT_TYPES)}")
    if verdict not in VERDICTS:
        raise VerdictError(f"unknown verdict {verdict!r}; expected one of {', '.join(VERDICTS)}")
    if not subject_id:
        raise VerdictError("a verdict needs the id of its subject")
    if not analyst:
        raise VerdictError("a verdict needs the analyst's name")
    if len(analyst) > MAX_ANALYST_CHARS or (note and len(note) > MAX_NOTE_CHARS):
        raise VerdictError(f"analyst name or note too long (max {MAX_ANALYST_CHARS} / {MAX_NOTE_CHARS} characters)")
    if require_known and not _subject_exists(con, subject_type, subject_id):
        raise VerdictError(f"no {subject_type} {subject_id!r} in the store")
    when = decided_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise VerdictError("decided_at must carry a time zone")
    con.execute(
        "INSERT INTO verdicts (subject_type, subject_id, verdict, analyst, note, decided_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [subject_type, subject_id, verdict, analyst, note, when],
    )
    return VerdictRecord(subject_type, subject_id, verdict, analyst, note, when.astimezone(UTC))


def save_verdict(
    db_path: str | Path,
    subject_type: str,
    subject_id: str,
    verdict: str,
    analyst: str,
    note: str | None = None,
) -> VerdictRecord:
    """Open the store read-write just for this write and close it again, so readers (the
    dashboard) and the next scan are blocked for milliseconds only. Raises `StoreLockedError`
    while a scan or an ingest holds the store."""
    con = store.connect(db_path)
    try:
        return record_verdict(con, subject_type, subject_id, verdict, analyst, note)
    finally:
        con.close()


def verdict_history(
    con: duckdb.DuckDBPyConnection,
    *,
    subject_type: str | None = None,
    subject_id: str | None = None,
    limit: int = 500,
) -> list[VerdictRecord]:
    """The audit trail, newest first, optionally for one subject."""
    rows = con.execute(
        """
        SELECT subject_type, subject_id, verdict, analyst, note, decided_at FROM verdicts
        WHERE (?::VARCHAR IS NULL OR lower(subject_type) = ?::VARCHAR)
          AND (?::VARCHAR IS NULL OR subject_id = ?::VARCHAR)
        ORDER BY decided_at DESC, subject_type, subject_id
        LIMIT ?
        """,
        [subject_type, subject_type, subject_id, subject_id, limit],
    ).fetchall()
    return [
        VerdictRecord(str(r[0]), str(r[1]), str(r[2]), str(r[3]), None if r[4] is None else str(r[4]), r[5])
        for r in rows
    ]
