"""What the store holds: the numbers `distillguard status` prints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass(frozen=True)
class IngestRunLine:
    run_id: int
    source: str
    status: str
    read: int
    stored: int
    duplicates: int
    quarantined: int


@dataclass(frozen=True)
class StoreSummary:
    requests: int
    accounts_seen: int
    accounts_with_metadata: int
    first_request: datetime | None
    last_request: datetime | None
    models: int
    quarantined: int
    quarantine_reasons: tuple[tuple[str, int], ...]
    network_classes: tuple[tuple[str, int], ...]
    recent_ingests: tuple[IngestRunLine, ...]
    campaigns: int
    alerts: int


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def _int(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    value = _scalar(con, sql)
    return int(value) if isinstance(value, int | float) else 0


def store_summary(con: duckdb.DuckDBPyConnection, *, recent: int = 5) -> StoreSummary:
    """Counts over the persistent tables; cheap even on a large store."""
    first, last = con.execute('SELECT min("timestamp"), max("timestamp") FROM requests').fetchone() or (
        None,
        None,
    )
    reasons = con.execute(
        "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY n DESC, reason"
    ).fetchall()
    classes = con.execute(
        "SELECT coalesce(network_class, 'unknown'), count(*) AS n FROM requests"
        " GROUP BY 1 ORDER BY n DESC, 1"
    ).fetchall()
    runs = con.execute(
        "SELECT run_id, source, status, read, stored, duplicates, quarantined FROM ingest_runs"
        " ORDER BY run_id DESC LIMIT ?",
        [recent],
    ).fetchall()
    return StoreSummary(
        requests=_int(con, "SELECT count(*) FROM requests"),
        accounts_seen=_int(con, "SELECT count(DISTINCT account_id) FROM requests"),
        accounts_with_metadata=_int(con, "SELECT count(*) FROM accounts"),
        first_request=first,
        last_request=last,
        models=_int(con, "SELECT count(DISTINCT model) FROM requests"),
        quarantined=_int(con, "SELECT count(*) FROM quarantine"),
        quarantine_reasons=tuple((str(r), int(n)) for r, n in reasons),
        network_classes=tuple((str(c), int(n)) for c, n in classes),
        recent_ingests=tuple(IngestRunLine(*row) for row in runs),
        campaigns=_int(con, "SELECT count(*) FROM campaigns"),
        alerts=_int(con, "SELECT count(*) FROM campaigns WHERE alerted"),
    )
