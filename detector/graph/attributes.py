"""The account-attribute table: which account holds which IP, prefix, payment method, ... .

One row per (account, attribute type, value), distinct. Request-level attributes (addresses,
prefixes, user agents, template and system-prompt fingerprints) come from the feature stage's
per-account-day tables when they cover the store, else from one grouped pass over `requests`
(and `request_features`); account-level ones from `accounts`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from detector.errors import DistillguardError
from detector.graph.activity_sketches import write_window_hosting_ips
from detector.graph.params import GraphParams
from detector.graph.sql import define_utc_day, table_columns, table_exists
from detector.graph.window import GraphWindow
from detector.paths import rules_dir

PUBLIC_EMAIL_FILE = "public_email_domains.yaml"

ACCOUNT_ATTRIBUTES_DDL = """
CREATE TABLE IF NOT EXISTS account_attributes (
    account_id  VARCHAR NOT NULL,
    attr_type   VARCHAR NOT NULL,
    attr_value  VARCHAR NOT NULL,
    family      VARCHAR NOT NULL,
    accounts    BIGINT NOT NULL,   -- how many accounts hold this value
    rarity      DOUBLE NOT NULL,   -- inverse-degree IDF in [0, 1]
    weight      DOUBLE NOT NULL,   -- type weight * rarity; 0 when pruned
    pruned      BOOLEAN NOT NULL,  -- a hub (too many or too dispersed accounts) or held by one
    spread      DOUBLE             -- holders' spread over networks and sign-up days vs a random
                                   -- sample (1 = like unrelated accounts); NULL when not assessed
)
"""


def load_public_email_domains(path: Path | None = None) -> frozenset[str]:
    """The public mail providers listed in `rules/public_email_domains.yaml`."""
    source = path or rules_dir() / PUBLIC_EMAIL_FILE
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DistillguardError(f"cannot read public e-mail domains from {source}: {exc}") from exc
    domains = document.get("domains") if isinstance(document, dict) else None
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise DistillguardError(f"{source}: expected a 'domains' list of strings")
    return frozenset(d.strip().lower() for d in domains)


def feature_tables_cover_requests(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the feature stage's per-account-day tables account for every stored request,
    so the graph can read them instead of grouping `requests` again."""
    needed = {
        "account_day_attributes": {"account_id", "day", "kind", "value", "requests"},
        "account_daily_features": {
            "account_id",
            "day",
            "requests",
            "hosting_requests",
            "input_tokens",
            "output_tokens",
            "first_seen",
            "last_seen",
        },
    }
    if not all(
        table_exists(con, table) and columns <= table_columns(con, table)
        for table, columns in needed.items()
    ):
        return False
    rows = con.execute(
        "SELECT (SELECT coalesce(sum(requests), 0) FROM account_daily_features),"
        " (SELECT count(*) FROM requests)"
    ).fetchall()
    summed, stored = rows[0]
    return int(summed) == int(stored) and int(stored) > 0


def _fill_public_domains(con: duckdb.DuckDBPyConnection, params: GraphParams) -> None:
    public = params.public_email_domains
    if public is None:
        public = load_public_email_domains()
    con.execute("CREATE OR REPLACE TEMP TABLE graph_public_domains (domain VARCHAR)")
    con.executemany("INSERT INTO graph_public_domains VALUES (?)", [[d] for d in sorted(public)])


# The kinds of `account_day_attributes` the graph reads (a code constant, not user input).
_REQUEST_KINDS = "('ip', 'prefix', 'user_agent', 'template', 'system_fp')"


# Per-account values of `graph_vertices` accounts, with the integer keys the later steps join
# on: the account's vertex and a 64-bit hash of (attribute type, value). `source` is a code
# constant (a table and its filter); the columns are those `graph_account_values` documents.
_KEYED_VALUES_SQL = """
    CREATE OR REPLACE TEMP TABLE graph_account_values AS
    SELECT t.account_id, t.kind, t.value, t.requests, v.vertex,
           hash(CASE t.kind WHEN 'template' THEN 'template_fp' ELSE t.kind END, t.value)
               AS value_key
    FROM ({source}) t JOIN graph_vertices v USING (account_id)
"""


def _values_from_running_totals(con: duckdb.DuckDBPyConnection, window: GraphWindow) -> bool:
    """Fill temp table `graph_account_values(account_id, kind, value, requests, vertex,
    value_key)` (accounts of `graph_vertices`) from the feature stage's all-time
    `account_value_totals` when they equal the window's sums, which saves grouping every
    per-day row again; returns False (nothing written) otherwise.

    They do when no stored day precedes the window (the store is younger than the look-back)
    and the totals account for every per-day row of the kinds read: per kind, the same number
    of (account, value, day) rows and requests.
    """
    if not {"account_id", "kind", "value", "requests", "days"} <= table_columns(
        con, "account_value_totals"
    ):
        return False
    earliest = con.execute("SELECT min(day) FROM account_daily_features").fetchall()[0][0]
    if earliest is None or earliest < window.start_day:
        return False
    # imported here: `detector.features` pulls in the text stack, which importing a scan spares
    from detector.features.totals import totals_match_day_rows

    if not totals_match_day_rows(con, _REQUEST_KINDS, skip_blank=True):
        return False
    con.execute(
        _KEYED_VALUES_SQL.format(
            source=f"""SELECT account_id, kind, value, requests FROM account_value_totals
                       WHERE kind IN {_REQUEST_KINDS} AND value IS NOT NULL AND value <> ''
                         AND days > 0"""
        )
    )
    return True


def _from_feature_tables(con: duckdb.DuckDBPyConnection, window: GraphWindow) -> None:
    """Request-level attributes (straight into `graph_raw_attributes`), home prefixes and
    per-day volume of the window from the feature stage's `account_day_attributes` /
    `account_daily_features`; the hosting addresses (network class is per address) from the
    stored daily list (`activity_sketches`)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_account_days AS
        SELECT account_id, day, requests, hosting_requests, input_tokens, output_tokens,
               first_seen, last_seen
        FROM account_daily_features
        WHERE day >= ?
        """,
        [window.start_day],
    )
    if not _values_from_running_totals(con, window):
        con.execute(
            _KEYED_VALUES_SQL.format(
                source=f"""SELECT account_id, kind, value, sum(requests) AS requests
                           FROM account_day_attributes
                           WHERE kind IN {_REQUEST_KINDS} AND value IS NOT NULL AND value <> ''
                             AND day >= ?
                           GROUP BY ALL"""
            ),
            [window.start_day],
        )
    write_window_hosting_ips(con, window)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_template_requests AS
        SELECT vertex, value_key, requests AS n FROM graph_account_values WHERE kind = 'template'
        """
    )
    # the request-level rows go straight to `graph_raw_attributes`, already keyed
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_raw_attributes AS
        SELECT account_id,
               CASE kind WHEN 'template' THEN 'template_fp' ELSE kind END AS attr_type,
               value AS attr_value, vertex, value_key
        FROM graph_account_values
        UNION ALL
        SELECT account_id, 'hosting_asn', asn, vertex, hash('hosting_asn', asn)
        FROM (SELECT DISTINCT v.account_id, CAST(h.asn AS VARCHAR) AS asn, v.vertex
              FROM graph_account_values v JOIN graph_hosting_ips h ON h.client_ip = v.value
              WHERE v.kind = 'ip')
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_account_home AS
        -- ties go to the smallest prefix: arg_max would pick by row order, which a parallel
        -- plan does not fix, and the holders' spread reads these homes
        SELECT account_id, first(value ORDER BY requests DESC, value) AS home_network
        FROM graph_account_values WHERE kind = 'prefix' GROUP BY account_id
        """
    )
    con.execute("DROP TABLE graph_account_values")
    con.execute("DROP TABLE graph_hosting_ips")


def _from_requests(
    con: duckdb.DuckDBPyConnection, params: GraphParams, window: GraphWindow
) -> None:
    """The same tables as `_from_feature_tables`, from one grouped pass over the window's
    `requests` (and `request_features`), with the request-level rows staged by attribute type
    then keyed."""
    define_utc_day(con)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_request_combos AS
        SELECT account_id, client_ip, ip_prefix, user_agent,
               CASE WHEN network_class IN (SELECT unnest(?::VARCHAR[])) THEN asn END AS hosting_asn,
               graph_utc_day("timestamp") AS day,
               count(*) AS requests,
               count(*) FILTER (WHERE network_class IN (SELECT unnest(?::VARCHAR[])))
                   AS hosting_requests,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               min("timestamp") AS first_seen, max("timestamp") AS last_seen
        FROM requests
        WHERE "timestamp" >= ?
        GROUP BY ALL
        """,
        [
            list(params.hosting_network_classes),
            list(params.hosting_network_classes),
            window.start,
        ],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_account_days AS
        SELECT account_id, day, sum(requests) AS requests,
               sum(hosting_requests) AS hosting_requests,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM graph_request_combos GROUP BY account_id, day
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_staged_attributes AS
        SELECT DISTINCT account_id, 'ip' AS attr_type, client_ip AS attr_value
            FROM graph_request_combos WHERE client_ip IS NOT NULL
        UNION ALL SELECT DISTINCT account_id, 'prefix', ip_prefix
            FROM graph_request_combos WHERE ip_prefix IS NOT NULL
        UNION ALL SELECT DISTINCT account_id, 'hosting_asn', CAST(hosting_asn AS VARCHAR)
            FROM graph_request_combos WHERE hosting_asn IS NOT NULL
        UNION ALL SELECT DISTINCT account_id, 'user_agent', user_agent
            FROM graph_request_combos WHERE user_agent IS NOT NULL AND user_agent <> ''
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_account_home AS
        SELECT account_id, first(ip_prefix ORDER BY requests DESC, ip_prefix) AS home_network
        FROM (SELECT account_id, ip_prefix, sum(requests) AS requests
              FROM graph_request_combos WHERE ip_prefix IS NOT NULL GROUP BY ALL)
        GROUP BY account_id
        """
    )
    con.execute("DROP TABLE graph_request_combos")
    columns = (
        table_columns(con, "request_features") if table_exists(con, "request_features") else set()
    )
    # request_features carries its UTC day; without it the window cannot bound it
    in_window = "day >= ?" if "day" in columns else "? IS NOT NULL"
    if "template_fp" in columns:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE graph_template_requests AS
            SELECT v.vertex, t.value_key, t.n
            FROM (SELECT account_id, hash('template_fp', template_fp) AS value_key, count(*) AS n
                  FROM request_features WHERE template_fp IS NOT NULL AND {in_window}
                  GROUP BY ALL) t
            JOIN graph_vertices v USING (account_id)
            """,
            [window.start_day],
        )
        con.execute(
            f"""
            INSERT INTO graph_staged_attributes
            SELECT DISTINCT account_id, 'template_fp', template_fp
            FROM request_features WHERE template_fp IS NOT NULL AND {in_window}
            """,
            [window.start_day],
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE graph_template_requests"
            " (vertex INTEGER, value_key UBIGINT, n BIGINT)"
        )
    if "system_fp" in columns:
        con.execute(
            f"""
            INSERT INTO graph_staged_attributes
            SELECT DISTINCT account_id, 'system_fp', system_fp
            FROM request_features WHERE system_fp IS NOT NULL AND {in_window}
            """,
            [window.start_day],
        )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_raw_attributes AS
        SELECT s.account_id, s.attr_type, s.attr_value, v.vertex,
               hash(s.attr_type, s.attr_value) AS value_key
        FROM graph_staged_attributes s JOIN graph_vertices v USING (account_id)
        """
    )
    con.execute("DROP TABLE graph_staged_attributes")


def collect_raw_attributes(
    con: duckdb.DuckDBPyConnection,
    params: GraphParams,
    window: GraphWindow,
    *,
    use_partials: bool,
) -> bool:
    """Fill temp tables `graph_raw_attributes(account_id, attr_type, attr_value, vertex,
    value_key)` (distinct), `graph_account_home(vertex, home)` (hash of the prefix most of an
    account's requests come from), `graph_template_requests(vertex, value_key, n)` (requests per
    account and template) and `graph_account_days` (per account and UTC day: requests, hosting
    requests, tokens, first and last request).

    Only the window's requests count; accounts are those of `graph_vertices`. Reads the feature
    stage's per-account-day tables when `use_partials` (they cover every request), else groups
    `requests` once. Returns whether template fingerprints are available.
    """
    _fill_public_domains(con, params)
    if use_partials:
        _from_feature_tables(con, window)
    else:
        _from_requests(con, params, window)
    # Integer keys for the joins and group-bys that follow: the vertex of the account and a
    # 64-bit hash of (type, value) -- collisions are negligible at any realistic size.
    con.execute(
        """
        INSERT INTO graph_raw_attributes
        SELECT s.account_id, s.attr_type, s.attr_value, v.vertex,
               hash(s.attr_type, s.attr_value) AS value_key
        FROM (
        SELECT DISTINCT account_id, 'payment' AS attr_type, payment_fingerprint AS attr_value
            FROM accounts WHERE payment_fingerprint IS NOT NULL AND payment_fingerprint <> ''
        UNION ALL SELECT DISTINCT account_id, 'signup_ip', signup_ip
            FROM accounts WHERE signup_ip IS NOT NULL AND signup_ip <> ''
        UNION ALL SELECT DISTINCT account_id, 'signup_prefix', signup_prefix
            FROM accounts WHERE signup_prefix IS NOT NULL AND signup_prefix <> ''
        UNION ALL SELECT DISTINCT account_id, 'signup_hour',
                CAST(CAST(floor(epoch(created_at) / ?) AS BIGINT) AS VARCHAR)
            FROM accounts WHERE created_at IS NOT NULL
        UNION ALL SELECT DISTINCT account_id, 'email_domain', lower(trim(email_domain))
            FROM accounts
            WHERE email_domain IS NOT NULL AND trim(email_domain) <> ''
              AND lower(trim(email_domain)) NOT IN (SELECT domain FROM graph_public_domains)
        ) s JOIN graph_vertices v USING (account_id)
        """,
        [params.signup_bucket_seconds],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_account_home AS
        SELECT v.vertex, hash(h.home_network) AS home
        FROM graph_account_home h JOIN graph_vertices v USING (account_id)
        """
    )
    has_templates = table_exists(con, "request_features") and "template_fp" in table_columns(
        con, "request_features"
    )
    return has_templates
