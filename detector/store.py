"""The DuckDB store: connection, schema and versioned migrations.

Persistent tables (what users ingest, what analysts decide, what scans publish) are created
by the numbered migrations below. Derived tables that a stage rebuilds from those (feature
tables, graph edges) are created by the stage that owns them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from detector.errors import DistillguardError, StoreLockedError

DEFAULT_DB = "distillguard.duckdb"
DB_ENV = "DISTILLGUARD_DB"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


ZSTD_TEXT = "USING COMPRESSION zstd"
"""Long free text (prompts, conversations, tool definitions) compresses better and far cheaper
with zstd than with DuckDB's default dictionary + FSST; see docs/benchmarks.md (Ingest)."""

REQUESTS_COLUMNS = f"""
    request_id      VARCHAR NOT NULL,
    "timestamp"     TIMESTAMPTZ NOT NULL,
    account_id      VARCHAR NOT NULL,
    api_key_id      VARCHAR,
    org_id          VARCHAR,
    client_ip       VARCHAR NOT NULL,
    user_agent      VARCHAR,
    model           VARCHAR NOT NULL,
    system_prompt   VARCHAR {ZSTD_TEXT},
    prompt          VARCHAR {ZSTD_TEXT} NOT NULL,
    messages        JSON {ZSTD_TEXT},
    tools           JSON {ZSTD_TEXT},
    input_tokens    BIGINT,
    output_tokens   BIGINT,
    status_code     INTEGER,
    extra           JSON,                  -- unknown input fields, kept
    ip_prefix       VARCHAR,               -- /24 for IPv4, /48 for IPv6
    asn             BIGINT,
    as_name         VARCHAR,
    country         VARCHAR,
    network_class   VARCHAR,               -- hosting, vpn, tor, residential
    ingest_run_id   BIGINT NOT NULL,
    source_line     BIGINT                 -- line (JSONL) or data row (CSV, Parquet) in that run's file
"""
"""The `requests` table as migration 3 leaves it (migration 1 is kept as it first shipped)."""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "requests, accounts, quarantine and ingest runs",
        """
        CREATE SEQUENCE ingest_run_ids START 1;
        CREATE TABLE ingest_runs (
            run_id          BIGINT PRIMARY KEY,
            source          VARCHAR NOT NULL,
            format          VARCHAR NOT NULL,
            kind            VARCHAR NOT NULL,      -- 'requests' or 'accounts'
            started_at      TIMESTAMPTZ NOT NULL,
            finished_at     TIMESTAMPTZ,
            status          VARCHAR NOT NULL,      -- 'running', 'done', 'failed'
            read            BIGINT NOT NULL DEFAULT 0,
            stored          BIGINT NOT NULL DEFAULT 0,
            duplicates      BIGINT NOT NULL DEFAULT 0,
            quarantined     BIGINT NOT NULL DEFAULT 0,
            file_size       BIGINT,
            enrichment_version VARCHAR,
            message         VARCHAR
        );
        CREATE TABLE requests (
            request_id      VARCHAR NOT NULL,
            "timestamp"     TIMESTAMPTZ NOT NULL,
            account_id      VARCHAR NOT NULL,
            api_key_id      VARCHAR,
            org_id          VARCHAR,
            client_ip       VARCHAR NOT NULL,
            user_agent      VARCHAR,
            model           VARCHAR NOT NULL,
            system_prompt   VARCHAR,
            prompt          VARCHAR NOT NULL,
            messages        JSON,
            tools           JSON,
            input_tokens    BIGINT,
            output_tokens   BIGINT,
            status_code     INTEGER,
            extra           JSON,                  -- unknown input fields, kept
            ip_prefix       VARCHAR,               -- /24 for IPv4, /48 for IPv6
            asn             BIGINT,
            as_name         VARCHAR,
            country         VARCHAR,
            network_class   VARCHAR,               -- hosting, vpn, tor, residential
            ingest_run_id   BIGINT NOT NULL,
            source_line     BIGINT                 -- line (JSONL) or data row (CSV, Parquet) in that run's file
        );
        CREATE TABLE accounts (
            account_id          VARCHAR NOT NULL,
            created_at          TIMESTAMPTZ,
            email_domain        VARCHAR,
            payment_fingerprint VARCHAR,
            country             VARCHAR,
            signup_ip           VARCHAR,
            org_id              VARCHAR,
            tier                VARCHAR,
            extra               JSON,
            signup_prefix       VARCHAR,
            signup_asn          BIGINT,
            signup_network_class VARCHAR,
            ingest_run_id       BIGINT NOT NULL,
            source_line         BIGINT
        );
        CREATE TABLE quarantine (
            ingest_run_id   BIGINT NOT NULL,
            source          VARCHAR NOT NULL,
            line            BIGINT,                -- line (JSONL) or data row (CSV, Parquet), from 1
            reason          VARCHAR NOT NULL,
            raw             VARCHAR
        );
        """,
    ),
    Migration(
        2,
        "scan results: runs, account scores, campaigns, verdicts",
        """
        CREATE SEQUENCE scan_run_ids START 1;
        CREATE TABLE scan_runs (
            run_id          BIGINT PRIMARY KEY,
            started_at      TIMESTAMPTZ NOT NULL,
            finished_at     TIMESTAMPTZ,
            status          VARCHAR NOT NULL,
            since           TIMESTAMPTZ,
            "until"         TIMESTAMPTZ,
            watermark       TIMESTAMPTZ,
            stats           JSON
        );
        CREATE TABLE account_scores (
            account_id      VARCHAR NOT NULL,
            score           DOUBLE NOT NULL,       -- [0, 1], higher is more suspicious
            campaign_id     VARCHAR,
            flagged         BOOLEAN NOT NULL,
            contributions   JSON,
            scan_run_id     BIGINT
        );
        CREATE TABLE campaigns (
            campaign_id     VARCHAR PRIMARY KEY,
            alert_id        VARCHAR NOT NULL,
            title           VARCHAR NOT NULL,
            severity        VARCHAR NOT NULL,
            score           DOUBLE NOT NULL,
            alerted         BOOLEAN NOT NULL,
            request_count   BIGINT NOT NULL,
            first_seen      TIMESTAMPTZ,
            last_seen       TIMESTAMPTZ,
            signals         JSON,
            rules           JSON,
            indicators      JSON,
            tags            JSON,
            status          VARCHAR NOT NULL DEFAULT 'new',
            created_at      TIMESTAMPTZ NOT NULL,
            updated_at      TIMESTAMPTZ NOT NULL,
            scan_run_id     BIGINT
        );
        CREATE TABLE campaign_accounts (
            campaign_id     VARCHAR NOT NULL,
            account_id      VARCHAR NOT NULL
        );
        CREATE TABLE verdicts (
            subject_type    VARCHAR NOT NULL,      -- 'campaign', 'account', 'org'
            subject_id      VARCHAR NOT NULL,
            verdict         VARCHAR NOT NULL,      -- 'confirmed', 'dismissed', 'allowlisted'
            analyst         VARCHAR NOT NULL,
            note            VARCHAR,
            decided_at      TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    Migration(
        3,
        "requests: zstd for the four text columns (prompts, messages, tools)",
        # Rebuilt in the migration's transaction: every row kept, NOT NULLs declared again
        # (the table has no other constraint and no index). The long text columns compress
        # with zstd instead of DICT_FSST: at 1 M requests the insert costs half the CPU and
        # the store half the space; reading them back costs up to 2x more, and the scan
        # reads them about once per ingested row.
        f"""
        CREATE TABLE requests_zstd ({REQUESTS_COLUMNS});
        INSERT INTO requests_zstd SELECT * FROM requests;
        DROP TABLE requests;
        ALTER TABLE requests_zstd RENAME TO requests;
        """,
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def default_db_path() -> Path:
    """`$DISTILLGUARD_DB`, else `distillguard.duckdb` in the working directory."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def connect(path: str | Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store, bring its schema up to date, and pin the session to UTC."""
    db_path = Path(path) if path is not None else default_db_path()
    if read_only and not db_path.exists():
        raise DistillguardError(f"no store at {db_path}")
    try:
        con = duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLockedError(f"store {db_path} is in use by another process") from exc
        raise DistillguardError(f"cannot open store {db_path}: {exc}") from exc
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        migrate(con)
    return con


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to this store, 0 for an empty one."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration newer than the store's version, each in its own transaction."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMPTZ)"
    )
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise DistillguardError(
            f"store schema version {current} is newer than this distillguard ({SCHEMA_VERSION})"
        )
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        with transaction(con):
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                [migration.version, migration.description],
            )
    return SCHEMA_VERSION


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit on success, roll back on any exception: a file or a stage lands whole or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def session_settings(con: duckdb.DuckDBPyConnection, **settings: str | bool) -> Iterator[None]:
    """Apply DuckDB settings (names are code constants) for a block, then restore the old values."""
    names = list(settings)
    current = con.execute(
        "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
    ).fetchall()[0]
    for name, value in settings.items():
        try:
            con.execute(f"SET {name} = ?", [value])
        except duckdb.Error as exc:
            raise DistillguardError(f"invalid {name} {value!r}: {exc}") from exc
    try:
        yield
    finally:
        for name, value in zip(names, current, strict=True):
            con.execute(f"SET {name} = ?", [value])
