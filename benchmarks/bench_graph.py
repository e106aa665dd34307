"""Benchmark of the graph stage on a synthetic store with planted groups.

    .venv/bin/python benchmarks/bench_graph.py --accounts 20000 --requests 1000000

Builds a DuckDB store straight into `requests` / `accounts` (and `request_features` with
`--templates`): casual users on residential ISPs, developers and batch jobs on cloud IPs, a
university and a company behind NATs, and planted campaigns -- proxy pools on hosting ASNs
with shared payment cards and sign-up bursts, plus one evasive campaign on rotating residential
IPs that only synchrony and templates can tie together. Then runs `build_graph`, and prints
wall time, CPU time of the process (DuckDB's threads included), peak memory (RSS of this
process) and the clustering quality against the planted labels. With `--store` and `--truth`
it runs on an existing store instead (e.g. ingested simulator output and its `truth.csv`).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from detector import store
from detector.features.tables import ensure_feature_tables
from detector.graph import GraphParams, GraphStats, build_graph

DAYS = 14
START_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def plan_accounts(n_accounts: int, n_campaigns: int, rng: np.random.Generator) -> pa.Table:
    """One row per account: population, group, volume and infrastructure knobs."""
    kinds: list[str] = []
    groups: list[str] = []
    campaign_sizes = np.clip(
        (rng.pareto(1.2, n_campaigns) + 1) * n_accounts * 0.004, 20, n_accounts * 0.05
    ).astype(int)
    for c, size in enumerate(campaign_sizes):
        evasive = c == n_campaigns - 1
        kinds += ["evasive" if evasive else "campaign"] * size
        groups += [f"campaign_{c}"] * size
    for name, size in (
        ("university", min(300, n_accounts // 50)),
        ("company", min(80, n_accounts // 100)),
    ):
        kinds += [name] * size
        groups += [name] * size
    rest = n_accounts - len(kinds)
    developer = int(rest * 0.1)
    kinds += ["developer"] * developer + ["casual"] * (rest - developer)
    groups += ["benign"] * rest
    n = len(kinds)
    order = rng.permutation(n)  # account ids must not reveal the group
    kind = np.array(kinds)[order]
    group = np.array(groups)[order]
    volume = np.maximum(1, rng.lognormal(3.0, 1.2, n)).astype(np.int64)
    return pa.table(
        {
            "account_id": [f"acct_{i:07d}" for i in range(n)],
            "kind": kind,
            "group_id": group,
            "weight": volume,
            "seed": rng.integers(0, 2**31, n),
        }
    )


PLAN_SQL = """
CREATE OR REPLACE TABLE plan AS
SELECT p.*,
       CASE WHEN group_id LIKE 'campaign_%' THEN CAST(split_part(group_id, '_', 2) AS INTEGER) END AS c,
       group_id LIKE 'campaign_%' AS is_campaign
FROM plan_arrow p
"""

ACCOUNTS_SQL = """
INSERT INTO accounts (account_id, created_at, email_domain, payment_fingerprint, signup_ip,
                      tier, signup_prefix, ingest_run_id)
SELECT account_id,
       to_timestamp(CASE
           WHEN kind = 'campaign' THEN ? - 86400 * 30 + (c * 7919 % 20) * 86400 + (seed % 6) * 3600
                                       + (seed % 3600)
           WHEN kind = 'evasive' THEN ? - 86400 * 20 + (seed % 4) * 3600 + (seed % 3600)
           WHEN kind = 'university' THEN ? - 86400 * 60 + (seed % (7 * 86400))
           ELSE ? - 86400 * 365 + (seed % (365 * 86400)) END) AS created_at,
       CASE WHEN kind = 'university' THEN 'uni.example.edu'
            WHEN kind = 'company' THEN 'corp.example.com'
            WHEN kind = 'developer' AND seed % 3 = 0 THEN 'dev' || (seed % 5000) || '.example.io'
            ELSE (['gmail.com', 'outlook.com', 'proton.me', 'yahoo.com'])[1 + seed % 4] END,
       CASE WHEN kind = 'campaign' THEN 'card_c' || c || '_' || (seed % 40)
            WHEN kind = 'company' THEN 'card_corp'
            ELSE 'card_' || account_id END,
       CASE WHEN kind = 'campaign' THEN '45.' || (60 + c) || '.' || (seed % 4) || '.' || (seed % 200)
            WHEN kind = 'university' THEN '128.32.7.' || (seed % 3)
            ELSE '98.' || (seed % 200) || '.' || (seed // 200 % 250) || '.' || (seed // 50000 % 250) END,
       CASE WHEN kind = 'company' THEN 'enterprise' WHEN seed % 10 = 0 THEN 'pro' ELSE 'free' END,
       NULL, 1
FROM plan
"""

REQUESTS_SQL = """
INSERT INTO requests (request_id, "timestamp", account_id, client_ip, user_agent, model, prompt,
                      input_tokens, output_tokens, ip_prefix, asn, network_class, ingest_run_id)
WITH per_account AS (
    SELECT *, greatest(1, CAST(round(weight * ? / sum(weight) OVER ()) AS BIGINT)) AS n_requests
    FROM plan
), expanded AS (
    SELECT a.*, j, hash(a.seed, j) AS h FROM per_account a, range(a.n_requests) AS r(j)
), placed AS (
    SELECT *,
        CASE
          WHEN kind = 'campaign' THEN 16000000 + c * 4096 + (seed % 256 + h % 12) % 512
          WHEN kind = 'evasive' THEN 33000000 + h % 3000000
          WHEN kind = 'university' THEN 8396800 + h % 3
          WHEN kind = 'company' THEN 9396800 + h % 2
          WHEN kind = 'developer' AND seed % 2 = 0 THEN 20000000 + seed % 60000
          ELSE 40000000 + (seed * 7 + h % 2) % 9000000 END AS ip_int,
        CASE
          -- campaigns fire in shared burst minutes: 400 per campaign over the window
          WHEN kind IN ('campaign', 'evasive') THEN ? + ((hash(c, h % 400) % (? * 1440)) * 60)
                                                       + h % 60
          ELSE ? + h % (? * 86400) END AS ts
    FROM expanded
)
SELECT account_id || '_' || j,
       to_timestamp(ts),
       account_id,
       (ip_int // 65536 % 256 + 1) || '.' || (ip_int // 256 % 256) || '.' || (ip_int % 256) || '.'
           || (ip_int // 16777216 + 1),
       CASE WHEN kind = 'campaign' THEN 'python-httpx/0.27.' || c
            WHEN kind = 'developer' THEN 'claude-cli/1.' || (seed % 30)
            ELSE 'Mozilla/5.0 Chrome/12' || (seed % 8) END,
       'model-a', 'x', 100, 200,
       (ip_int // 65536 % 256 + 1) || '.' || (ip_int // 256 % 256) || '.' || (ip_int % 256) || '.0/24',
       CASE WHEN kind IN ('campaign') OR (kind = 'developer' AND seed % 2 = 0)
            THEN 16509 + (ip_int % 3) ELSE 7922 + seed % 20 END,
       CASE WHEN kind IN ('campaign') OR (kind = 'developer' AND seed % 2 = 0)
            THEN 'hosting' ELSE 'residential' END,
       1
FROM placed
"""

TEMPLATES_SQL = """
CREATE OR REPLACE TABLE request_features AS
SELECT r.request_id, r.account_id, r."timestamp",
       CASE WHEN p.c IS NOT NULL THEN 'tc' || p.c || '_' || (hash(r.request_id) % 15)
            -- benign templates: Zipf-like popularity over a large space
            ELSE 'tb' || CAST(floor(pow(2.0, (hash(r.request_id) % 20000) / 1000.0)) AS BIGINT)
       END AS template_fp,
       CASE WHEN p.c IS NOT NULL THEN 'sys_c' || p.c ELSE NULL END AS system_fp
FROM requests r JOIN plan p USING (account_id)
"""


# The feature stage's per-account-day partials (`account_daily_features`,
# `account_day_attributes`), which the graph stage reads instead of grouping `requests` again.
# Same definitions as `detector.features.volume`, restricted to the columns the graph reads (the
# other NOT NULL columns are zero here).
FEATURE_PARTIALS_SQL = (
    """
INSERT INTO account_daily_features
SELECT account_id, CAST("timestamp" AS DATE) AS day, count(*), sum(input_tokens),
       sum(output_tokens), 0, 0,
       count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')), 0, 0, 0, 0.0, 0, 0, 0,
       0, 0, 0, 0, 0, min("timestamp"), max("timestamp")
FROM requests GROUP BY ALL
""",
    """
INSERT INTO account_day_attributes
WITH rows AS (
    SELECT r.account_id, CAST(r."timestamp" AS DATE) AS day, r.client_ip, r.ip_prefix, r.asn,
           r.user_agent, f.template_fp, f.system_fp
    FROM requests r LEFT JOIN request_features f USING (request_id)
)
SELECT account_id, day, 'ip', client_ip, count(*) FROM rows WHERE client_ip IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'prefix', ip_prefix, count(*) FROM rows WHERE ip_prefix IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'asn', CAST(asn AS VARCHAR), count(*) FROM rows WHERE asn IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'user_agent', user_agent, count(*) FROM rows WHERE user_agent IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'template', template_fp, count(*) FROM rows WHERE template_fp IS NOT NULL GROUP BY ALL
UNION ALL
SELECT account_id, day, 'system_fp', system_fp, count(*) FROM rows WHERE system_fp IS NOT NULL GROUP BY ALL
""",
)


def write_feature_partials(con: duckdb.DuckDBPyConnection) -> None:
    """Fill the feature stage's per-account-day tables from `requests` (and `request_features`)."""
    ensure_feature_tables(con)
    if not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'request_features'"
    ).fetchall()[0][0]:
        con.execute(
            "CREATE TABLE request_features AS SELECT request_id, NULL::VARCHAR AS template_fp,"
            " NULL::VARCHAR AS system_fp FROM requests LIMIT 0"
        )
    for sql in FEATURE_PARTIALS_SQL:
        con.execute(sql)


def build_store(
    path: Path,
    n_accounts: int,
    n_requests: int,
    campaigns: int,
    seed: int,
    templates: bool,
    features: bool,
) -> None:
    """Write the synthetic store at `path`."""
    rng = np.random.default_rng(seed)
    con = store.connect(path)
    plan_arrow = plan_accounts(n_accounts, campaigns, rng)
    con.register("plan_arrow", plan_arrow)
    con.execute(PLAN_SQL)
    con.unregister("plan_arrow")
    con.execute(ACCOUNTS_SQL, [START_EPOCH] * 4)
    con.execute(REQUESTS_SQL, [n_requests, START_EPOCH, DAYS, START_EPOCH, DAYS])
    if templates:
        con.execute(TEMPLATES_SQL)
    if features:
        write_feature_partials(con)
    con.close()


QUALITY_SQL = """
WITH labelled AS (
    SELECT c.cluster_id, c.account_id, p.group_id FROM clusters c JOIN plan p USING (account_id)
), sizes AS (
    SELECT cluster_id, count(*) AS size FROM labelled GROUP BY cluster_id
), majority AS (
    SELECT cluster_id, arg_max(group_id, n) AS majority_group
    FROM (SELECT cluster_id, group_id, count(*) AS n FROM labelled GROUP BY ALL) GROUP BY cluster_id
)
SELECT l.group_id, count(*) AS accounts,
       avg(CASE WHEN m.majority_group = l.group_id AND s.size > 1 THEN 1.0 ELSE 0.0 END) AS purity,
       count(DISTINCT CASE WHEN s.size > 1 THEN l.cluster_id END) AS clusters,
       max(s.size) AS largest_cluster
FROM labelled l JOIN majority m USING (cluster_id) JOIN sizes s USING (cluster_id)
WHERE l.group_id <> 'benign'
GROUP BY l.group_id ORDER BY l.group_id
"""

MIXED_SQL = """
SELECT count(*) FROM (
    SELECT c.cluster_id FROM clusters c JOIN plan p USING (account_id)
    WHERE p.is_campaign GROUP BY c.cluster_id HAVING count(DISTINCT p.group_id) > 1)
"""

BENIGN_IN_CAMPAIGN_SQL = """
WITH majority AS (
    SELECT cluster_id, arg_max(is_campaign, n) AS campaign_majority
    FROM (SELECT c.cluster_id, p.group_id, p.is_campaign, count(*) AS n
          FROM clusters c JOIN plan p USING (account_id) GROUP BY ALL) GROUP BY cluster_id
)
SELECT count(*) FROM clusters c JOIN plan p USING (account_id) JOIN majority m USING (cluster_id)
WHERE NOT p.is_campaign AND m.campaign_majority
"""


def report(
    con: duckdb.DuckDBPyConnection, stats: GraphStats, elapsed: float, extra: dict[str, object]
) -> None:
    """Print timing, memory and clustering quality against `plan`."""
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    requests = con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
    quality = con.execute(QUALITY_SQL).fetchall()
    mixed = con.execute(MIXED_SQL).fetchall()[0][0]
    benign_in = con.execute(BENIGN_IN_CAMPAIGN_SQL).fetchall()[0][0]
    print(
        json.dumps(
            {
                "accounts": stats.accounts,
                "requests": requests,
                **extra,
                "graph_seconds": round(elapsed, 1),
                "peak_rss_mb": round(peak_mb),
                "steps": stats.seconds,
                "edges": stats.edges,
                "candidate_pairs": stats.candidate_pairs,
                "synchronized_pairs": stats.synchronized_pairs,
                "template_linked_pairs": stats.template_linked_pairs,
                "clusters": stats.clusters,
                "multi_account_clusters": stats.multi_account_clusters,
                "largest_cluster": stats.largest_cluster,
                "used_templates": stats.used_templates,
                "clusters_mixing_campaigns": mixed,
                "benign_accounts_in_campaign_majority_clusters": benign_in,
            },
            indent=2,
        )
    )
    print("group (purity = share in multi-account clusters whose majority is the group)")
    print("group                 accounts  purity  clusters  largest")
    for group, accounts, purity, clusters, largest in quality:
        print(f"{group:<21} {accounts:>8}  {purity:6.3f}  {clusters:>8}  {largest:>7}")


def run_on_store(path: Path, truth: Path | None, threads: int) -> None:
    """Build the graph on an existing store and, with a truth file, score the clusters."""
    con = store.connect(path)
    con.execute("SET threads = ?", [threads])
    started, cpu = time.perf_counter(), time.process_time()
    stats = build_graph(con, params=GraphParams())
    elapsed = time.perf_counter() - started
    cpu_seconds = round(time.process_time() - cpu, 1)
    has_plan = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'plan'"
    ).fetchall()[0][0]
    if truth is None and has_plan:  # a store this script generated with --db
        report(con, stats, elapsed, {"graph_cpu_seconds": cpu_seconds})
        return
    if truth is None:
        print(
            json.dumps(
                {
                    "graph_seconds": round(elapsed, 1),
                    "graph_cpu_seconds": cpu_seconds,
                    "steps": stats.seconds,
                },
                indent=2,
            )
        )
        return
    # Campaigns are labelled by campaign id; benign accounts by population ('university_nat').
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE plan AS
        SELECT account_id, CASE WHEN label = 'benign' THEN kind ELSE label END AS group_id,
               label <> 'benign' AS is_campaign
        FROM read_csv(?, header = true, all_varchar = true)
        """,
        [str(truth)],
    )
    report(con, stats, elapsed, {"graph_cpu_seconds": cpu_seconds})
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--templates", action="store_true", help="also write request_features")
    parser.add_argument(
        "--no-feature-tables",
        action="store_true",
        help="leave out the feature stage's per-account-day tables (the graph then groups "
        "`requests` itself)",
    )
    parser.add_argument(
        "--add-feature-tables",
        action="store_true",
        help="with --store: first write the feature stage's per-account-day tables into it",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--db", type=Path, default=None, help="keep the store at this path")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="run on an existing store (e.g. ingested simulator output) instead of generating one",
    )
    parser.add_argument("--truth", type=Path, default=None, help="the simulator's truth.csv")
    args = parser.parse_args()
    if args.store is not None:
        if args.add_feature_tables:
            con = store.connect(args.store)
            write_feature_partials(con)
            con.close()
        run_on_store(args.store, args.truth, args.threads)
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        build_store(
            path,
            args.accounts,
            args.requests,
            args.campaigns,
            args.seed,
            args.templates,
            not args.no_feature_tables,
        )
        generated = time.perf_counter() - started

        con = store.connect(path)
        con.execute("SET threads = ?", [args.threads])
        started, cpu = time.perf_counter(), time.process_time()
        stats = build_graph(con, params=GraphParams())
        elapsed = time.perf_counter() - started
        cpu_seconds = round(time.process_time() - cpu, 1)
        report(
            con,
            stats,
            elapsed,
            {"generate_seconds": round(generated, 1), "graph_cpu_seconds": cpu_seconds},
        )
        con.close()


if __name__ == "__main__":
    main()
