"""The account-attribute table: which account holds which IP, prefix, payment method, ... .

One row per (account, attribute type, value), distinct. Request-level attributes come from one
grouped pass over `requests`; account-level ones from `accounts`; template and system-prompt
fingerprints from `request_features` when that table exists.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from detector.errors import DistillguardError
from detector.graph.params import GraphParams
from detector.graph.sql import table_columns, table_exists
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
    pruned      BOOLEAN NOT NULL   -- a hub (too many accounts) or held by one account only
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


def collect_raw_attributes(con: duckdb.DuckDBPyConnection, params: GraphParams) -> bool:
    """Fill temp tables `graph_raw_attributes(account_id, attr_type, attr_value)` and
    `graph_account_days` (per account and UTC day: requests, hosting requests, tokens, first
    and last request).

    Returns whether template fingerprints from `request_features` were available.
    """
    public = params.public_email_domains
    if public is None:
        public = load_public_email_domains()
    con.execute("CREATE OR REPLACE TEMP TABLE graph_public_domains (domain VARCHAR)")
    con.executemany("INSERT INTO graph_public_domains VALUES (?)", [[d] for d in sorted(public)])

    # One pass over requests: the distinct request-level attributes of each account, per day,
    # with the volume figures the cluster features need (kept in `graph_account_days`).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE graph_request_combos AS
        SELECT account_id, client_ip, ip_prefix, user_agent,
               CASE WHEN network_class IN (SELECT unnest(?::VARCHAR[])) THEN asn END AS hosting_asn,
               CAST("timestamp" AS DATE) AS day,
               count(*) AS requests,
               count(*) FILTER (WHERE network_class IN (SELECT unnest(?::VARCHAR[])))
                   AS hosting_requests,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               min("timestamp") AS first_seen, max("timestamp") AS last_seen
        FROM requests
        GROUP BY ALL
        """,
        [list(params.hosting_network_classes), list(params.hosting_network_classes)],
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
        CREATE OR REPLACE TEMP TABLE graph_raw_attributes AS
        SELECT DISTINCT account_id, 'ip' AS attr_type, client_ip AS attr_value
            FROM graph_request_combos WHERE client_ip IS NOT NULL
        UNION ALL SELECT DISTINCT account_id, 'prefix', ip_prefix
            FROM graph_request_combos WHERE ip_prefix IS NOT NULL
        UNION ALL SELECT DISTINCT account_id, 'hosting_asn', CAST(hosting_asn AS VARCHAR)
            FROM graph_request_combos WHERE hosting_asn IS NOT NULL
        UNION ALL SELECT DISTINCT account_id, 'user_agent', user_agent
            FROM graph_request_combos WHERE user_agent IS NOT NULL AND user_agent <> ''
        UNION ALL SELECT DISTINCT account_id, 'payment', payment_fingerprint
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
        """,
        [params.signup_bucket_seconds],
    )
    con.execute("DROP TABLE graph_request_combos")

    has_templates = table_exists(con, "request_features")
    if has_templates:
        columns = table_columns(con, "request_features")
        if "template_fp" in columns:
            con.execute(
                """
                INSERT INTO graph_raw_attributes
                SELECT DISTINCT account_id, 'template_fp', template_fp
                FROM request_features WHERE template_fp IS NOT NULL
                """
            )
        if "system_fp" in columns:
            con.execute(
                """
                INSERT INTO graph_raw_attributes
                SELECT DISTINCT account_id, 'system_fp', system_fp
                FROM request_features WHERE system_fp IS NOT NULL
                """
            )
        has_templates = "template_fp" in columns
    return has_templates
