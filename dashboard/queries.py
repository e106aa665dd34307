"""Every read the dashboard makes, and its one write path.

Reads go through one cached read-only DuckDB connection per store (`Reader`) with bound
parameters, and their results are cached for `TTL` seconds. Pages read the `dash_*` tables and
views that `detector.review.precompute` keeps up to date at the end of each scan (the account
views filter the feature stage's tables by account), the run tables and the verdicts. From
`requests` they fetch only sample prompts, by point lookups on (timestamp, request id).

DuckDB lets one process write a store file, or any number read it, not both. So the reader's
connection is closed after `IDLE_SECONDS` without a query, which leaves the store free for the
next scheduled scan; when a scan or an ingest holds the store, reads raise `StoreBusy` and the
pages say so. A verdict is written by closing the reader, opening the store read-write for that
one insert (`detector.review.save_verdict`), and letting the reader reopen on the next query.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl
import streamlit as st

from detector import store
from detector.campaigns.profile import query_frame
from detector.errors import DistillguardError, StoreLockedError
from detector.export.alerts import load_alerts
from detector.export.csv import campaign_csv
from detector.export.jsonl import jsonl_lines
from detector.export.ocsf import ocsf_lines
from detector.export.stix import stix_chunks
from detector.review import VerdictRecord, fetch_prompts, save_verdict, verdict_history
from detector.rules import load_rules
from detector.scan_lock import lock_path

TTL = 30             # seconds a cached result is reused
IDLE_SECONDS = 1.0   # the read-only connection is closed after this long without a query,
                     # so a scheduled scan (which needs the file to itself) is not locked out
T = TypeVar("T")


class StoreBusy(Exception):
    """A scan or an ingest holds the store; try again when it has finished."""


class NotPrecomputed(Exception):
    """The store has no dashboard tables yet: no scan has finished on it."""


class Reader:
    """One read-only connection to one store, opened on demand and closed when idle."""

    def __init__(self, path: Path, idle_seconds: float = IDLE_SECONDS) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._timer: threading.Timer | None = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            try:
                self._con = store.connect(self.path, read_only=True)
            except StoreLockedError as exc:
                raise StoreBusy(str(exc)) from exc
        return self._con

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.idle_seconds, self.close)
        self._timer.daemon = True
        self._timer.start()

    def run(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work` on the connection, serialised with every other session's reads."""
        with self._lock:
            try:
                return work(self._connection())
            except duckdb.IOException as exc:  # the file changed hands under us
                self.close()
                raise StoreBusy(str(exc)) from exc
            finally:
                self._arm_timer()

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        return self.run(lambda con: query_frame(con, sql, list(params)))

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def write(self, work: Callable[[], T]) -> T:
        """Release the read-only connection (one process cannot hold both kinds) and run a
        write that opens the store read-write itself."""
        with self._lock:
            self.close()
            try:
                return work()
            except StoreLockedError as exc:
                raise StoreBusy(str(exc)) from exc


def db_path() -> Path:
    """The store the dashboard shows: `$DISTILLGUARD_DB`, as the CLI sets it."""
    return store.default_db_path().resolve()


@st.cache_resource(show_spinner=False)
def reader(path: str) -> Reader:
    if not Path(path).exists():
        raise DistillguardError(f"no store at {path}")
    return Reader(Path(path))


def _frame(path: str, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
    return reader(path).frame(sql, params)


def scan_running(path: str) -> bool:
    """True while a scan holds the store's lock file."""
    return lock_path(Path(path)).exists()


# -- store state -------------------------------------------------------------------------

@st.cache_data(ttl=TTL, show_spinner=False)
def meta(path: str) -> dict[str, Any]:
    """When the dashboard tables were built, from which scan, over how many requests."""
    tables = set(_frame(path, "SELECT table_name FROM information_schema.tables")["table_name"].to_list())
    if "dash_meta" not in tables:
        raise NotPrecomputed(path)
    rows = _frame(path, "SELECT built_at, scan_run_id, requests, accounts FROM dash_meta").to_dicts()
    return rows[0] if rows else {}


# -- queue and campaigns -----------------------------------------------------------------

_LATEST_VERDICT = """
    SELECT subject_id, lower(verdict) AS verdict, analyst, decided_at FROM verdicts
    WHERE lower(subject_type) = ?
    QUALIFY row_number() OVER (PARTITION BY subject_id ORDER BY decided_at DESC) = 1
"""


@st.cache_data(ttl=TTL, show_spinner=False)
def queue(path: str) -> pl.DataFrame:
    """Every campaign, most severe and highest scored first, with the analyst's latest verdict
    folded into its status (as the export does)."""
    return _frame(
        path,
        f"""
        WITH v AS ({_LATEST_VERDICT})
        SELECT c.campaign_id, c.severity, c.severity_rank, c.score, c.title, c.accounts,
               c.request_count, c.first_seen, c.last_seen, c.created_at, c.updated_at,
               c.capabilities, c.top_capability, c.cot_share, c.alerted,
               CASE v.verdict WHEN 'confirmed' THEN 'confirmed' WHEN 'dismissed' THEN 'dismissed'
                              WHEN 'allowlisted' THEN 'dismissed' ELSE c.scan_status END AS status,
               v.verdict, v.analyst AS verdict_by, v.decided_at AS verdict_at
        FROM dash_campaigns c LEFT JOIN v ON v.subject_id = c.campaign_id
        ORDER BY c.severity_rank DESC, c.score DESC, c.campaign_id
        """,
        ["campaign"],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def campaign(path: str, campaign_id: str) -> dict[str, Any] | None:
    rows = queue(path).filter(pl.col("campaign_id") == campaign_id)
    if rows.is_empty():
        return None
    extra = _frame(
        path,
        "SELECT alert_id, signals, rules, indicators, tags FROM dash_campaigns WHERE campaign_id = ?",
        [campaign_id],
    ).to_dicts()[0]
    record = rows.to_dicts()[0]
    for key in ("signals", "rules", "indicators", "tags"):
        record[key] = json.loads(extra[key]) if extra[key] else ({} if key in ("signals", "indicators") else [])
    record["alert_id"] = extra["alert_id"]
    return record


@st.cache_data(ttl=TTL, show_spinner=False)
def campaign_members(path: str, campaign_id: str) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT account_id, score, flagged, requests, first_seen, last_seen, active_days,"
        " distinct_ips, hosting_share, payment_fingerprint, email_domain, country, created_at, org_id"
        " FROM dash_campaign_members WHERE campaign_id = ?"
        " ORDER BY requests DESC NULLS LAST, account_id",
        [campaign_id],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def campaign_hourly(path: str, campaign_id: str, top_accounts: int = 40) -> pl.DataFrame:
    """Requests per hour for the campaign's busiest `top_accounts` members."""
    return _frame(
        path,
        """
        WITH h AS (SELECT * FROM dash_campaign_hourly WHERE campaign_id = ?),
        top AS (
            SELECT account_id FROM h GROUP BY account_id ORDER BY sum(requests) DESC, account_id LIMIT ?
        )
        SELECT h.account_id, h.hour, h.hour + INTERVAL 1 HOUR AS hour_end, h.requests
        FROM h SEMI JOIN top USING (account_id)
        ORDER BY h.account_id, h.hour
        """,
        [campaign_id, top_accounts],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def campaign_hour_totals(path: str, campaign_id: str) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT hour, sum(requests) AS requests, count(DISTINCT account_id) AS active_accounts"
        " FROM dash_campaign_hourly WHERE campaign_id = ? GROUP BY hour ORDER BY hour",
        [campaign_id],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def capability_mix(path: str, campaign_id: str) -> pl.DataFrame:
    """The campaign's capability shares beside the whole population's."""
    return _frame(
        path,
        """
        SELECT capability, 'campaign' AS population, share, requests, cot_requests
        FROM dash_campaign_capability WHERE campaign_id = ?
        UNION ALL
        SELECT capability, 'all traffic', share, requests, cot_requests FROM dash_population_capability
        ORDER BY population DESC, share DESC, capability
        """,
        [campaign_id],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def population_cot_share(path: str) -> float | None:
    rows = _frame(
        path, "SELECT sum(cot_requests) / nullif(sum(requests), 0) AS s FROM dash_population_capability"
    )["s"].to_list()
    return None if not rows or rows[0] is None else float(rows[0])


@st.cache_data(ttl=TTL, show_spinner=False)
def campaign_templates(path: str, campaign_id: str) -> pl.DataFrame:
    """The campaign's top templates, each with the prompts of a few of its requests."""
    def work(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        frame = query_frame(
            con,
            "SELECT template_fp, requests, accounts, share, samples FROM dash_campaign_templates"
            " WHERE campaign_id = ? ORDER BY requests DESC, template_fp",
            [campaign_id],
        )
        pointers = [(p["request_id"], p["timestamp"]) for row in frame["samples"].to_list() for p in row or []]
        found = fetch_prompts(con, pointers)
        prompts = [[found[p["request_id"]][0] for p in row or [] if p["request_id"] in found]
                   for row in frame["samples"].to_list()]
        return frame.with_columns(pl.Series("samples", prompts, dtype=pl.List(pl.Utf8)))

    return reader(path).run(work)


@st.cache_data(ttl=TTL, show_spinner=False)
def campaign_models(path: str, campaign_id: str) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT day, model, requests, accounts FROM dash_campaign_models WHERE campaign_id = ?"
        " ORDER BY day, model",
        [campaign_id],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def graph(path: str, campaign_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(nodes, edges) of the campaign's account-indicator graph, already laid out."""
    nodes = _frame(
        path,
        "SELECT node_id, kind, label, degree, x, y FROM dash_graph_nodes WHERE campaign_id = ?",
        [campaign_id],
    )
    edges = _frame(
        path,
        "SELECT account_id, node_id, kind, requests, x, y, x2, y2 FROM dash_graph_edges"
        " WHERE campaign_id = ?",
        [campaign_id],
    )
    return nodes, edges


@st.cache_resource(show_spinner=False)
def rule_texts() -> dict[str, tuple[str, str, str]]:
    """Rule id -> (title, signal family, description) of the bundled rules."""
    try:
        return {r.id: (r.title, str(r.signal), r.description) for r in load_rules()}
    except DistillguardError:
        return {}


# -- accounts ----------------------------------------------------------------------------

@st.cache_data(ttl=TTL, show_spinner=False)
def account(path: str, account_id: str) -> dict[str, Any] | None:
    rows = _frame(path, "SELECT * FROM dash_accounts WHERE account_id = ?", [account_id]).to_dicts()
    return rows[0] if rows else None


@st.cache_data(ttl=TTL, show_spinner=False)
def top_accounts(path: str, limit: int = 200) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT account_id, score, campaign_id, flagged, requests, last_seen FROM dash_accounts"
        " ORDER BY score DESC NULLS LAST, requests DESC, account_id LIMIT ?",
        [limit],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def account_daily(path: str, account_id: str) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT day, model, requests FROM dash_account_daily WHERE account_id = ? ORDER BY day, model",
        [account_id],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def account_hourly(path: str, account_id: str) -> pl.DataFrame:
    """Requests per hour, for accounts in a campaign (others have the daily view only)."""
    return _frame(
        path,
        "SELECT hour, sum(requests) AS requests FROM dash_campaign_hourly WHERE account_id = ?"
        " GROUP BY hour ORDER BY hour",
        [account_id],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def account_networks(path: str, account_id: str) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT client_ip, ip_prefix, asn, as_name, country, network_class, requests, first_day,"
        " last_day FROM dash_account_networks WHERE account_id = ? ORDER BY requests DESC, client_ip",
        [account_id],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def account_capability(path: str, account_id: str) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT capability, requests, cot_requests FROM dash_account_capability WHERE account_id = ?"
        " ORDER BY requests DESC, capability",
        [account_id],
    )


SAMPLE_SCHEMA = {
    "request_id": pl.Utf8, "timestamp": pl.Datetime("us", "UTC"), "model": pl.Utf8,
    "capability": pl.Utf8, "prompt": pl.Utf8,
}


@st.cache_data(ttl=TTL, show_spinner=False)
def account_samples(path: str, account_id: str) -> pl.DataFrame:
    """A few of the account's requests with their prompts, fetched by point lookups."""
    def work(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        picks = con.execute(
            'SELECT request_id, "timestamp", capability FROM dash_account_samples'
            ' WHERE account_id = ? ORDER BY "timestamp", request_id',
            [account_id],
        ).fetchall()
        found = fetch_prompts(con, [(rid, ts) for rid, ts, _ in picks])
        rows = [(rid, ts, found[rid][1], cap, found[rid][0]) for rid, ts, cap in picks if rid in found]
        return pl.DataFrame(rows, schema=SAMPLE_SCHEMA, orient="row")

    return reader(path).run(work)


# -- verdicts, runs, export --------------------------------------------------------------

VERDICT_TRAIL_COLUMNS = ("decided_at", "subject_type", "subject_id", "verdict", "analyst", "note")
VERDICT_TRAIL_SCHEMA = {
    "subject_type": pl.Utf8, "subject_id": pl.Utf8, "verdict": pl.Utf8, "analyst": pl.Utf8,
    "note": pl.Utf8, "decided_at": pl.Datetime("us", "UTC"),
}

@st.cache_data(ttl=TTL, show_spinner=False)
def verdict_trail(path: str, subject_type: str | None = None, subject_id: str | None = None) -> pl.DataFrame:
    """The audit trail, newest first."""
    trail = reader(path).run(
        lambda con: verdict_history(con, subject_type=subject_type, subject_id=subject_id, limit=1000)
    )
    return pl.DataFrame(
        [asdict(entry) for entry in trail], schema=VERDICT_TRAIL_SCHEMA, orient="row"
    ).select(list(VERDICT_TRAIL_COLUMNS))


def record(path: str, subject_type: str, subject_id: str, verdict: str, analyst: str, note: str) -> VerdictRecord:
    """The dashboard's one write: append a verdict, then drop cached reads that show verdicts."""
    saved = reader(path).write(
        lambda: save_verdict(path, subject_type, subject_id, verdict, analyst, note or None)
    )
    for cached in (queue, campaign, verdict_trail):
        cached.clear()
    return saved


@st.cache_data(ttl=TTL, show_spinner=False)
def ingest_runs(path: str, limit: int = 50) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT run_id, status, kind, format, source, started_at, finished_at, read, stored,"
        " duplicates, quarantined, message FROM ingest_runs ORDER BY run_id DESC LIMIT ?",
        [limit],
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def scan_runs(path: str, limit: int = 50) -> pl.DataFrame:
    frame = _frame(
        path,
        'SELECT run_id, status, started_at, finished_at, since, "until", watermark, stats'
        " FROM scan_runs ORDER BY run_id DESC LIMIT ?",
        [limit],
    )
    stats = [json.loads(s) if s else {} for s in frame["stats"].to_list()]
    return frame.drop("stats").with_columns(
        pl.Series("new_requests", [s.get("new_requests") for s in stats], dtype=pl.Int64),
        pl.Series("campaigns", [s.get("campaigns") for s in stats], dtype=pl.Int64),
        pl.Series("alerts", [s.get("alerts") for s in stats], dtype=pl.Int64),
        pl.Series("error", [s.get("error") for s in stats], dtype=pl.String),
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def quarantine_reasons(path: str) -> pl.DataFrame:
    return _frame(
        path,
        "SELECT reason, count(*) AS records, count(DISTINCT ingest_run_id) AS runs,"
        " max(ingest_run_id) AS last_run FROM quarantine GROUP BY reason ORDER BY records DESC, reason",
    )


@dataclass(frozen=True)
class ExportFile:
    name: str
    mime: str
    text: str


EXPORT_FORMATS = {
    "jsonl": ("application/x-ndjson", jsonl_lines),
    "csv": ("text/csv", campaign_csv),
    "ocsf": ("application/x-ndjson", ocsf_lines),
    "stix": ("application/json", stix_chunks),
}


@st.cache_data(ttl=TTL, show_spinner=False)
def export(path: str, campaign_ids: tuple[str, ...], fmt: str) -> ExportFile:
    """The campaigns in one of `distillguard export`'s formats (the same writers)."""
    mime, writer = EXPORT_FORMATS[fmt]
    alerts = [a for a in reader(path).run(load_alerts) if a.campaign_id in set(campaign_ids)]
    suffix = {"jsonl": "jsonl", "csv": "csv", "ocsf": "ocsf.jsonl", "stix": "stix.json"}[fmt]
    name = f"{campaign_ids[0]}.{suffix}" if len(campaign_ids) == 1 else f"alerts.{suffix}"
    return ExportFile(name, mime, "".join(writer(alerts)))


def last_sighting(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"
