"""All-time tables kept up to the per-day partials: accounts, API keys, organisations, templates.

Sums and maxima add up across days; hour-of-day histograms, distinct IPs/prefixes/ASNs/user
agents and per-template counts come from the running totals of `account_day_attributes`
(`detector.features.totals`), so an update reads only the rows of the accounts it recomputes
(those with new days, or whose fingerprints' reach changed); inter-arrival statistics
from the pooled gap moments (n, sum, sum of squares) of each day. Template sharing is measured
across the whole population: a template is *rare-shared* when at least two accounts use it
but no more than `rare_share` of all accounts (and never fewer than two).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import polars as pl

from detector.features.totals import rebuild_totals

RARE_TEMPLATE_SHARE = 0.05

_TEMPLATE_FEATURES = """
CREATE OR REPLACE TABLE template_features AS
SELECT CASE kind WHEN 'template' THEN 'prompt' ELSE 'system' END AS kind,
       value AS template_fp,
       accounts,
       requests,
       accounts / $population AS account_share,
       first_day,
       last_day
FROM fingerprint_totals
"""

# Template and system-prompt sharing of the accounts whose fingerprint rows of the totals are
# in `fp_own`: what depends on the reach of fingerprints (`fingerprint_totals`) and the
# population. An account's requests per kind are summed by a grouping joined back, not a
# window (a window sorts the rows on their VARCHAR keys); the sums are exact integers, so the
# shares are the same doubles either way.
_SHARING = """
fp_rows AS (
    SELECT u.account_id, u.kind, u.value, u.requests AS n, r.accounts,
           r.accounts >= 2 AND r.accounts <= greatest(2, $rare_share * $population) AS rare_shared
    FROM fp_own u JOIN fingerprint_totals r USING (kind, value)
), fp_sums AS (
    SELECT account_id, kind, sum(n) AS total FROM fp_rows GROUP BY account_id, kind
), fingerprint_rows AS (
    SELECT f.*, f.n / s.total AS p FROM fp_rows f JOIN fp_sums s USING (account_id, kind)
), template_stats AS (
    SELECT account_id,
           count(*) AS distinct_templates,
           max(p) AS top_template_share,
           round(0.0 - CAST(sum(CAST(p * ln(p) AS DECIMAL(38, 18))) AS DOUBLE), 12) AS template_entropy,
           first(accounts ORDER BY n DESC, value) AS top_template_accounts,
           sum(n) FILTER (WHERE accounts >= 2) AS shared_template_requests,
           sum(n) FILTER (WHERE rare_shared) AS rare_template_requests
    FROM fingerprint_rows WHERE kind = 'template' GROUP BY account_id
), system_stats AS (
    SELECT account_id,
           max(accounts) AS system_fp_max_accounts,
           sum(n) FILTER (WHERE accounts >= 2) AS shared_system_requests,
           sum(n) FILTER (WHERE rare_shared) AS rare_system_requests
    FROM fingerprint_rows WHERE kind = 'system_fp' GROUP BY account_id
)
"""

# The columns of `account_features` that do not depend on the capability model, for the
# accounts of `_dg_own` (those with rewritten days; `{own}` restricts each table read to them,
# or is empty when they are every account), from the running totals
# (`detector.features.totals`) and those accounts' daily partials. One CTE per family of
# columns, joined on account_id at the end. Sums of doubles depend on the order of a parallel
# aggregation (and so on the physical order of the totals) in their last bits: the entropy
# terms are summed as exact decimals (18 places), then rounded to 12 decimals, so re-runs and
# differently chunked runs give identical rows.
_ACCOUNT_ROWS_TEMPLATE = """
WITH days AS (
    SELECT account_id,
           CAST(sum(requests) AS BIGINT) AS requests,
           CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
           CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
           count(*) AS active_days, max(peak_per_minute) AS peak_per_minute,
           sum(errors) AS errors, sum(rate_limited) AS rate_limited, sum(hosting_requests) AS hosting_requests,
           sum(pivot_requests) AS pivot_requests, sum(tool_requests) AS tool_requests,
           sum(system_requests) AS system_requests,
           CAST(sum(CAST(cot_score_sum AS DECIMAL(38, 6))) AS DOUBLE) AS cot_score_sum,
           CAST(sum(gap_count) AS BIGINT) AS gap_count,
           CAST(sum(gap_sum_us) AS DOUBLE) / 1e6 AS gap_sum,
           CAST(sum(gap_sumsq_us2) AS DOUBLE) / 1e12 AS gap_sumsq,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM account_daily_features {own} GROUP BY account_id
), hour_rows AS (
    SELECT account_id, requests, days FROM account_value_totals {own} WHERE kind = 'hour'
), hour_stats AS (
    SELECT h.account_id, CAST(sum(h.days) AS BIGINT) AS active_hours,
           round(0.0 - CAST(sum(CAST((h.requests / t.total) * ln(h.requests / t.total) AS DECIMAL(38, 18))) AS DOUBLE), 12)
               AS hour_entropy
    FROM hour_rows h
    JOIN (SELECT account_id, sum(requests) AS total FROM hour_rows GROUP BY account_id) t USING (account_id)
    GROUP BY h.account_id
), infrastructure AS (
    SELECT account_id,
           count(*) FILTER (WHERE kind = 'ip') AS distinct_ips,
           count(*) FILTER (WHERE kind = 'prefix') AS distinct_prefixes,
           count(*) FILTER (WHERE kind = 'asn') AS distinct_asns,
           count(*) FILTER (WHERE kind = 'user_agent') AS distinct_user_agents,
           count(*) FILTER (WHERE kind = 'model') AS distinct_models
    FROM account_value_totals {own} WHERE kind IN ('ip', 'prefix', 'asn', 'user_agent', 'model')
    GROUP BY account_id
), fp_own AS (
    SELECT account_id, kind, value, requests FROM account_value_totals {own}
    WHERE kind IN ('template', 'system_fp')
), """ + _SHARING + """
SELECT d.account_id,
       d.requests, d.input_tokens, d.output_tokens,
       CASE WHEN d.input_tokens > 0 THEN d.output_tokens / d.input_tokens END AS output_input_ratio,
       d.active_days, h.active_hours,
       d.requests / h.active_hours AS requests_per_active_hour,
       d.peak_per_minute, h.hour_entropy,
       CASE WHEN d.gap_count >= 2 THEN d.gap_sum / d.gap_count END AS interarrival_mean,
       CASE WHEN d.gap_count >= 2 AND d.gap_sum > 0
            THEN sqrt(greatest(d.gap_sumsq / d.gap_count - pow(d.gap_sum / d.gap_count, 2), 0))
                 / (d.gap_sum / d.gap_count) END AS interarrival_cv,
       CASE WHEN d.gap_count >= 2 AND d.gap_sum > 0
            THEN (sqrt(greatest(d.gap_sumsq / d.gap_count - pow(d.gap_sum / d.gap_count, 2), 0)) - d.gap_sum / d.gap_count)
                 / (sqrt(greatest(d.gap_sumsq / d.gap_count - pow(d.gap_sum / d.gap_count, 2), 0)) + d.gap_sum / d.gap_count)
            END AS burstiness,
       d.errors / d.requests AS error_rate,
       d.rate_limited / d.requests AS rate_limited_rate,
       coalesce(i.distinct_ips, 0) AS distinct_ips,
       coalesce(i.distinct_prefixes, 0) AS distinct_prefixes,
       coalesce(i.distinct_asns, 0) AS distinct_asns,
       coalesce(i.distinct_user_agents, 0) AS distinct_user_agents,
       coalesce(i.distinct_models, 0) AS distinct_models,
       d.hosting_requests / d.requests AS hosting_share,
       d.pivot_requests / d.requests AS model_pivot_share,
       d.tool_requests / d.requests AS tool_share,
       d.system_requests / d.requests AS system_prompt_share,
       t.distinct_templates,
       t.distinct_templates / d.requests AS distinct_template_ratio,
       t.top_template_share, t.template_entropy, t.top_template_accounts,
       coalesce(t.shared_template_requests, 0) / d.requests AS shared_template_share,
       coalesce(t.rare_template_requests, 0) / d.requests AS shared_rare_template_share,
       coalesce(s.system_fp_max_accounts, 0) AS system_fp_max_accounts,
       coalesce(s.shared_system_requests, 0) / d.requests AS shared_system_fp_share,
       coalesce(s.rare_system_requests, 0) / d.requests AS shared_rare_system_fp_share,
       d.first_seen, d.last_seen,
       d.cot_score_sum
FROM days d
LEFT JOIN hour_stats h USING (account_id)
LEFT JOIN infrastructure i USING (account_id)
LEFT JOIN template_stats t USING (account_id)
LEFT JOIN system_stats s USING (account_id)
"""
_ACCOUNT_ROWS = _ACCOUNT_ROWS_TEMPLATE.replace("{own}", "SEMI JOIN _dg_own USING (account_id)")
# When `_dg_own` holds every account with partials (a first scan or a rebuild): no semi-joins.
_EVERY_ACCOUNT_ROWS = _ACCOUNT_ROWS_TEMPLATE.replace("{own}", "")

# Accounts whose row must be recomputed: those with rewritten days, those using a fingerprint
# whose reach changed, and (when the population moved the rare-share threshold) those using a
# fingerprint whose reach lies between the old and the new threshold.
_REACH_ONLY = """
CREATE OR REPLACE TEMP TABLE _dg_reach_only AS
SELECT DISTINCT t.account_id FROM account_value_totals t
SEMI JOIN (
    SELECT kind, value FROM feature_dirty_fingerprints
    UNION
    SELECT kind, value FROM fingerprint_totals WHERE accounts >= 2 AND accounts > $low AND accounts <= $high
) f USING (kind, value)
ANTI JOIN _dg_own o USING (account_id)
WHERE t.kind IN ('template', 'system_fp')
"""

# The sharing columns of the accounts in `_dg_reach_only`; their other columns stand.
_REACH_ROWS = """
CREATE OR REPLACE TEMP TABLE _dg_reach_rows AS
WITH fp_own AS (
    SELECT account_id, kind, value, requests FROM account_value_totals
    SEMI JOIN _dg_reach_only USING (account_id)
    WHERE kind IN ('template', 'system_fp')
), """ + _SHARING + """
SELECT a.account_id, t.top_template_accounts,
       coalesce(t.shared_template_requests, 0) AS shared_template_requests,
       coalesce(t.rare_template_requests, 0) AS rare_template_requests,
       coalesce(s.system_fp_max_accounts, 0) AS system_fp_max_accounts,
       coalesce(s.shared_system_requests, 0) AS shared_system_requests,
       coalesce(s.rare_system_requests, 0) AS rare_system_requests
FROM _dg_reach_only a LEFT JOIN template_stats t USING (account_id) LEFT JOIN system_stats s USING (account_id)
"""

# The rows that stand, with the sharing columns of `_dg_reach_rows` put in: one rewrite of
# the table (a row per account), where an UPDATE of most rows costs several times more;
# the accounts of `_dg_own` are left out (their rows are recomputed whole).
_REACH_REWRITE = """
CREATE OR REPLACE TABLE account_features_base AS
SELECT b.* REPLACE (
    CASE WHEN x.account_id IS NULL THEN b.top_template_accounts
         ELSE x.top_template_accounts END AS top_template_accounts,
    CASE WHEN x.account_id IS NULL THEN b.shared_template_share
         ELSE x.shared_template_requests / b.requests END AS shared_template_share,
    CASE WHEN x.account_id IS NULL THEN b.shared_rare_template_share
         ELSE x.rare_template_requests / b.requests END AS shared_rare_template_share,
    CASE WHEN x.account_id IS NULL THEN b.system_fp_max_accounts
         ELSE x.system_fp_max_accounts END AS system_fp_max_accounts,
    CASE WHEN x.account_id IS NULL THEN b.shared_system_fp_share
         ELSE x.shared_system_requests / b.requests END AS shared_system_fp_share,
    CASE WHEN x.account_id IS NULL THEN b.shared_rare_system_fp_share
         ELSE x.rare_system_requests / b.requests END AS shared_rare_system_fp_share
)
FROM (SELECT * FROM account_features_base ANTI JOIN _dg_own USING (account_id)) b
LEFT JOIN _dg_reach_rows x ON b.account_id = x.account_id
"""

_KEY_FEATURES = """
CREATE OR REPLACE TABLE key_features AS
SELECT api_key_id, min(org_id) AS org_id,
       count(DISTINCT account_id) AS accounts,
       CAST(sum(requests) AS BIGINT) AS requests,
       CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
       CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
       count(DISTINCT day) AS active_days,
       sum(errors) / sum(requests) AS error_rate,
       sum(rate_limited) / sum(requests) AS rate_limited_rate,
       sum(hosting_requests) / sum(requests) AS hosting_share,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM key_daily_features WHERE api_key_id IS NOT NULL
GROUP BY api_key_id ORDER BY api_key_id
"""

_ORG_FEATURES = """
CREATE OR REPLACE TABLE org_features AS
SELECT org_id,
       count(DISTINCT account_id) AS accounts,
       count(DISTINCT api_key_id) AS api_keys,
       CAST(sum(requests) AS BIGINT) AS requests,
       CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
       CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
       count(DISTINCT day) AS active_days,
       sum(errors) / sum(requests) AS error_rate,
       sum(rate_limited) / sum(requests) AS rate_limited_rate,
       sum(hosting_requests) / sum(requests) AS hosting_share,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM key_daily_features WHERE org_id IS NOT NULL
GROUP BY org_id ORDER BY org_id
"""


def rebuild_all_time(
    con: duckdb.DuckDBPyConnection,
    capability: Callable[[duckdb.DuckDBPyConnection], pl.DataFrame | None] | None = None,
    *,
    rare_share: float = RARE_TEMPLATE_SHARE,
) -> int:
    """Rebuild the running totals from every partial, then every all-time row; return the accounts.

    The slow path, for a store whose totals are missing or suspect. Call inside a transaction.
    """
    rebuild_totals(con)
    con.execute("DROP TABLE IF EXISTS account_features_base")
    return update_all_time(con, capability, rare_share=rare_share)


def update_all_time(
    con: duckdb.DuckDBPyConnection,
    capability: Callable[[duckdb.DuckDBPyConnection], pl.DataFrame | None] | None = None,
    *,
    rare_share: float = RARE_TEMPLATE_SHARE,
) -> int:
    """Bring account, key, org and template tables up to the partials; return the number of accounts.

    Accounts queued in `feature_dirty_accounts` (new or rewritten days) get their whole row
    recomputed; accounts using a fingerprint whose reach or rare-share status changed get
    their sharing columns recomputed; the rest keep their row. `capability(con)`
    gives per-account capability and CoT columns keyed by account_id (from `account_value_totals`
    and `account_features_base`, so it costs one row per account), appended to
    `account_features`. Call inside a transaction.
    """
    if not _exists(con, "account_features_base"):
        con.execute("CREATE OR REPLACE TEMP TABLE _dg_own (account_id VARCHAR)")
        con.execute(f"CREATE TABLE account_features_base AS {_ACCOUNT_ROWS} LIMIT 0", _empty_params())
        con.execute("INSERT INTO feature_dirty_accounts SELECT DISTINCT account_id FROM account_daily_features")
    con.execute("CREATE OR REPLACE TEMP TABLE _dg_own AS SELECT DISTINCT account_id FROM feature_dirty_accounts")
    old_population = _count(con, "SELECT count(*) FROM account_features_base")
    population = _count(
        con,
        "SELECT count(*) FROM (SELECT account_id FROM account_features_base UNION SELECT account_id FROM _dg_own)",
    )
    params = {"rare_share": rare_share, "population": population}
    old_threshold = max(2.0, rare_share * old_population)
    threshold = max(2.0, rare_share * population)
    if old_population:
        con.execute(_REACH_ONLY, {"low": min(old_threshold, threshold), "high": max(old_threshold, threshold)})
        con.execute(_REACH_ROWS, params)
        con.execute(_REACH_REWRITE)
        con.execute("DROP TABLE _dg_reach_only")
        con.execute("DROP TABLE _dg_reach_rows")
    # with no row yet, every account is recomputed: no reach update, nothing to delete
    rows = _EVERY_ACCOUNT_ROWS if not old_population and _own_is_everyone(con) else _ACCOUNT_ROWS
    con.execute(f"INSERT INTO account_features_base {rows}", params)
    con.execute("DROP TABLE _dg_own")
    con.execute("DELETE FROM feature_dirty_accounts")
    con.execute("DELETE FROM feature_dirty_fingerprints")
    con.execute(_TEMPLATE_FEATURES, {"population": max(population, 1)})

    extra = capability(con) if capability is not None else None
    if extra is not None and extra.height > 0:
        columns = "".join(f', c."{name}"' for name in extra.columns if name != "account_id")
        con.register("_dg_capability", extra)
        try:
            con.execute(
                "CREATE OR REPLACE TABLE account_features AS SELECT a.* EXCLUDE (cot_score_sum)"
                + columns
                + " FROM account_features_base a LEFT JOIN _dg_capability c USING (account_id)"
                " ORDER BY a.account_id"
            )
        finally:
            con.unregister("_dg_capability")
    else:
        con.execute(
            "CREATE OR REPLACE TABLE account_features AS"
            " SELECT * EXCLUDE (cot_score_sum) FROM account_features_base ORDER BY account_id"
        )
    con.execute(_KEY_FEATURES)
    con.execute(_ORG_FEATURES)
    return _count(con, "SELECT count(*) FROM account_features")


def _own_is_everyone(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every account with daily partials is queued in `_dg_own`."""
    return not _count(
        con,
        "SELECT count(*) FROM (SELECT DISTINCT account_id FROM account_daily_features)"
        " ANTI JOIN _dg_own USING (account_id)",
    )


def _empty_params() -> dict[str, object]:
    return {"rare_share": RARE_TEMPLATE_SHARE, "population": 1}


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchall()[0]
    return int(row[0]) if row and row[0] is not None else 0


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchall()
    return bool(rows[0][0])
