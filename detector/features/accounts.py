"""All-time tables rebuilt from the per-day partials: accounts, API keys, organisations, templates.

Sums and maxima add up across days; hour-of-day histograms, distinct IPs/prefixes/ASNs/user
agents and per-template counts come from `account_day_attributes`; inter-arrival statistics
from the pooled gap moments (n, sum, sum of squares) of each day. Template sharing is measured
across the whole population: a template is *rare-shared* when at least two accounts use it
but no more than `rare_share` of all accounts (and never fewer than two).
"""

from __future__ import annotations

import duckdb
import polars as pl

RARE_TEMPLATE_SHARE = 0.05

_TEMPLATE_FEATURES = """
CREATE OR REPLACE TABLE template_features AS
WITH population AS (
    SELECT count(DISTINCT account_id) AS accounts FROM account_daily_features
)
SELECT CASE kind WHEN 'template' THEN 'prompt' ELSE 'system' END AS kind,
       value AS template_fp,
       count(DISTINCT account_id) AS accounts,
       CAST(sum(requests) AS BIGINT) AS requests,
       count(DISTINCT account_id) / any_value(p.accounts) AS account_share,
       min(day) AS first_day,
       max(day) AS last_day
FROM account_day_attributes CROSS JOIN population p
WHERE kind IN ('template', 'system_fp')
GROUP BY ALL
"""

# One CTE per family of columns, joined on account_id at the end. Sums of doubles over many
# rows depend on the order of a parallel aggregation in their last bits; the entropies are
# rounded to 12 decimals so that re-runs give identical rows.
_ACCOUNT_FEATURES = """
CREATE OR REPLACE TABLE account_features AS
WITH population AS (
    SELECT count(*) AS accounts FROM (SELECT DISTINCT account_id FROM account_daily_features)
), days AS (
    SELECT account_id,
           CAST(sum(requests) AS BIGINT) AS requests,
           CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
           CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
           count(*) AS active_days, max(peak_per_minute) AS peak_per_minute,
           sum(errors) AS errors, sum(rate_limited) AS rate_limited, sum(hosting_requests) AS hosting_requests,
           sum(pivot_requests) AS pivot_requests, sum(tool_requests) AS tool_requests,
           sum(system_requests) AS system_requests,
           CAST(sum(gap_count) AS BIGINT) AS gap_count,
           CAST(sum(gap_sum_us) AS DOUBLE) / 1e6 AS gap_sum,
           CAST(sum(gap_sumsq_us2) AS DOUBLE) / 1e12 AS gap_sumsq,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM account_daily_features GROUP BY account_id
), hours AS (
    SELECT account_id, value AS hour, sum(requests) AS n, count(*) AS day_hours
    FROM account_day_attributes WHERE kind = 'hour' GROUP BY ALL
), hour_stats AS (
    SELECT account_id, CAST(sum(day_hours) AS BIGINT) AS active_hours,
           round(0.0 - sum((n / total) * ln(n / total)), 12) AS hour_entropy
    FROM (SELECT *, sum(n) OVER (PARTITION BY account_id) AS total FROM hours)
    GROUP BY account_id
), infrastructure AS (
    SELECT account_id,
           count(DISTINCT value) FILTER (WHERE kind = 'ip') AS distinct_ips,
           count(DISTINCT value) FILTER (WHERE kind = 'prefix') AS distinct_prefixes,
           count(DISTINCT value) FILTER (WHERE kind = 'asn') AS distinct_asns,
           count(DISTINCT value) FILTER (WHERE kind = 'user_agent') AS distinct_user_agents,
           count(DISTINCT value) FILTER (WHERE kind = 'model') AS distinct_models
    FROM account_day_attributes WHERE kind IN ('ip', 'prefix', 'asn', 'user_agent', 'model')
    GROUP BY account_id
), fingerprint_use AS (
    SELECT account_id, kind, value, sum(requests) AS n
    FROM account_day_attributes WHERE kind IN ('template', 'system_fp') GROUP BY ALL
), fingerprint_reach AS (
    SELECT kind, value, count(*) AS accounts FROM fingerprint_use GROUP BY ALL
), fingerprint_rows AS (
    SELECT u.account_id, u.kind, u.value, u.n, r.accounts,
           r.accounts >= 2 AND r.accounts <= greatest(2, $rare_share * p.accounts) AS rare_shared,
           u.n / sum(u.n) OVER (PARTITION BY u.account_id, u.kind) AS p
    FROM fingerprint_use u JOIN fingerprint_reach r USING (kind, value) CROSS JOIN population p
), template_stats AS (
    SELECT account_id,
           count(*) AS distinct_templates,
           max(p) AS top_template_share,
           round(0.0 - sum(p * ln(p)), 12) AS template_entropy,
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
       d.first_seen, d.last_seen
FROM days d
LEFT JOIN hour_stats h USING (account_id)
LEFT JOIN infrastructure i USING (account_id)
LEFT JOIN template_stats t USING (account_id)
LEFT JOIN system_stats s USING (account_id)
ORDER BY d.account_id
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
    capability: pl.DataFrame | None,
    *,
    rare_share: float = RARE_TEMPLATE_SHARE,
) -> int:
    """Rebuild account, key, org and template tables; return the number of accounts.

    `capability` holds per-account capability and CoT columns keyed by account_id; they are
    appended to `account_features` when given. Call inside a transaction.
    """
    con.execute(_TEMPLATE_FEATURES)
    con.execute(_ACCOUNT_FEATURES, {"rare_share": rare_share})
    if capability is not None and capability.height > 0:
        extra = [name for name in capability.columns if name != "account_id"]
        con.register("_dg_capability", capability)
        try:
            columns = ", ".join(f'c."{name}"' for name in extra)
            con.execute(
                "CREATE OR REPLACE TABLE account_features AS SELECT a.*, "
                + columns
                + " FROM account_features a LEFT JOIN _dg_capability c USING (account_id) ORDER BY a.account_id"
            )
        finally:
            con.unregister("_dg_capability")
    con.execute(_KEY_FEATURES)
    con.execute(_ORG_FEATURES)
    row = con.execute("SELECT count(*) FROM account_features").fetchall()[0]
    return int(row[0]) if row else 0
