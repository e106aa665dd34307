"""Derived tables of the feature stage: per request and per day.

`request_features` grows by one row per featurized request. The per-day partials are
rewritten for the days that new requests touch; the all-time tables (`account_features`,
`key_features`, `org_features`, `template_features`) are brought up to them through running
totals (`detector.features.totals`), recomputing only the accounts those days touch.

Columns that DuckDB's automatic choice compresses poorly for the CPU it costs are stored
uncompressed: request ids (unique random hex), the attribute rows (the bulk of every write),
label evidence (random float bytes). The choice is part of the table definition, so it applies
to stores whose feature tables this version creates (or drops and rebuilds); older stores keep
DuckDB's automatic choice, with the same content.
"""

from __future__ import annotations

import duckdb

from detector.features.templates import ensure_template_tables

FEATURE_TABLES = """
CREATE TABLE IF NOT EXISTS request_features (
    request_id              VARCHAR USING COMPRESSION uncompressed NOT NULL,
    account_id              VARCHAR NOT NULL,
    "timestamp"             TIMESTAMPTZ NOT NULL,
    day                     DATE NOT NULL,          -- UTC day of timestamp
    template_hash           UBIGINT,                -- masked token sequence of the prompt
    template_fp             VARCHAR,                -- near-duplicate template, 16 hex chars
    system_fp               VARCHAR,                -- same for the system prompt, NULL when none
    capability              VARCHAR,
    capability_confidence   DOUBLE,
    cot_score               DOUBLE,
    has_tools               BOOLEAN
);
CREATE TABLE IF NOT EXISTS account_daily_features (
    account_id          VARCHAR NOT NULL,
    day                 DATE NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    errors              BIGINT NOT NULL,        -- status >= 400 other than 429
    rate_limited        BIGINT NOT NULL,        -- status 429
    hosting_requests    BIGINT NOT NULL,        -- network_class hosting, vpn or tor
    pivot_requests      BIGINT NOT NULL,        -- to a model within 48 h of its first appearance
    tool_requests       BIGINT NOT NULL,
    system_requests     BIGINT NOT NULL,        -- with a system prompt
    cot_score_sum       DOUBLE NOT NULL,
    active_hours        INTEGER NOT NULL,
    active_minutes      INTEGER NOT NULL,
    peak_per_minute     INTEGER NOT NULL,
    distinct_templates  INTEGER NOT NULL,
    top_template_requests BIGINT NOT NULL,
    gap_count           BIGINT NOT NULL,        -- inter-arrival gaps within the day
    gap_sum_us          HUGEINT NOT NULL,       -- microseconds
    gap_sumsq_us2       HUGEINT NOT NULL,
    first_seen          TIMESTAMPTZ NOT NULL,
    last_seen           TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS account_day_attributes (
    account_id          VARCHAR USING COMPRESSION uncompressed NOT NULL,
    day                 DATE NOT NULL,
    kind                VARCHAR NOT NULL,       -- ip, prefix, asn, user_agent, model, hour, template, system_fp,
                                                -- capability (value: label), cot (value: elicited)
    value               VARCHAR USING COMPRESSION uncompressed NOT NULL,
    requests            BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS key_daily_features (
    api_key_id          VARCHAR,
    org_id              VARCHAR,
    account_id          VARCHAR NOT NULL,
    day                 DATE NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    errors              BIGINT NOT NULL,
    rate_limited        BIGINT NOT NULL,
    hosting_requests    BIGINT NOT NULL,
    first_seen          TIMESTAMPTZ NOT NULL,
    last_seen           TIMESTAMPTZ NOT NULL
);
-- Work a run has committed but not yet folded into the partials (a day) or the all-time
-- tables (a NULL day): what an interrupted run leaves for the next one.
CREATE TABLE IF NOT EXISTS feature_dirty_days (
    day                 DATE
);
CREATE TABLE IF NOT EXISTS model_first_seen (
    model               VARCHAR NOT NULL,
    first_seen          TIMESTAMPTZ NOT NULL
);
"""

# What each distinct prompt contributes to its requests' capability and CoT labels, so that a
# prompt seen before is not scored again (`detector.features.labels`).
PROMPT_LABELS_TABLE = """
CREATE TABLE IF NOT EXISTS prompt_labels (
    prompt_key      UBIGINT NOT NULL,   -- 64-bit hash of the (clipped) prompt text
    labeler         BIGINT NOT NULL,    -- version of the rules and model that wrote the row
    cot_hits        UBIGINT NOT NULL,   -- bit j set: CoT rule j (load order) fired
    evidence        BLOB USING COMPRESSION uncompressed NOT NULL
                                        -- float32 model log-odds, then rule miss products, per capability
);
"""

ALL_TABLES = (
    "request_features",
    "account_daily_features",
    "account_day_attributes",
    "key_daily_features",
    "model_first_seen",
    "feature_dirty_days",
    "templates",
    "template_bands",
    "account_features",
    "key_features",
    "org_features",
    "template_features",
    "prompt_labels",
    "account_value_totals",
    "fingerprint_totals",
    "feature_dirty_accounts",
    "feature_dirty_fingerprints",
    "feature_unmerged_days",
    "account_features_base",
)


def ensure_feature_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every incremental table of the stage that is missing."""
    con.execute(FEATURE_TABLES)
    con.execute(PROMPT_LABELS_TABLE)
    ensure_template_tables(con)


def drop_feature_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Forget all derived feature state, for a rebuild from `requests`."""
    for table in ALL_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
