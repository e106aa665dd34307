"""A small store scanned by the real scoring, rules and campaigns stages, then precomputed.

The feature and graph tables are written by hand (as in the scan tests) so no slow stage runs:
an attack cluster of 12 accounts on shared hosting IPs and payment cards, active around the
clock in step, CoT-heavy math prompts (one account's carry HTML that must render as text); a
campus NAT cluster, an evaluation-harness organisation and 250 ordinary accounts.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from synthetic_accounts import START, Population, account_feature_values

from detector import store
from detector.review import precompute
from detector.scan import Stage, campaigns_stage, rules_stage, scan, scoring_stage

XSS_PROMPT = (
    'Solve and show every step. <script>window.__xss = 1</script> '
    '<img src=x onerror="window.__xss = 2"> **bold** [link](javascript:alert(1))'
)
XSS_ACCOUNT = "atk-003"
STAGES: tuple[Stage, ...] = (
    ("scoring", scoring_stage),
    ("rules", rules_stage),
    ("campaigns", campaigns_stage),
)


def _requests(pop: Population, rng: np.random.Generator) -> pl.DataFrame:
    """Attack accounts: 48 requests each, one per hour for two days, in step, from hosting IPs,
    two models (a pivot to the newer one on day 2); everyone else: 3 requests."""
    rows: list[dict[str, object]] = []
    templates = ["a1b2c3d4e5f60718", "0f1e2d3c4b5a6978", "9988776655443322"]
    for i, account in enumerate(pop.attack):
        for h in range(48):
            template = templates[h % 3]
            prompt = f"{XSS_PROMPT} #{h}" if account == XSS_ACCOUNT else (
                f"Solve problem {i * 100 + h} and show every intermediate step of your reasoning."
            )
            rows.append({
                "request_id": f"{account}-r{h:02d}",
                "timestamp": START + timedelta(hours=h, minutes=int(rng.integers(0, 5))),
                "account_id": account, "client_ip": f"203.0.113.{h % 4 + 1}",
                "ip_prefix": "203.0.113.0/24", "asn": 64500, "as_name": "EXAMPLE-HOSTING",
                "network_class": "hosting", "user_agent": "python-httpx/0.27",
                "model": "m-1" if h < 24 else "m-2-new", "prompt": prompt,
                "capability": "math_reasoning", "cot_score": 0.9, "template_fp": template,
            })
    for account in pop.nat + pop.evals + pop.benign:
        for j in range(3):
            org_eval = account.startswith("eval")
            rows.append({
                "request_id": f"{account}-r{j}",
                "timestamp": START + timedelta(days=int(rng.integers(0, 3)), hours=9 + j),
                "account_id": account, "client_ip": f"198.51.{abs(hash(account)) % 200}.{j + 1}",
                "ip_prefix": f"198.51.{abs(hash(account)) % 200}.0/24", "asn": 64501,
                "as_name": "EXAMPLE-ISP", "network_class": "residential", "user_agent": "Mozilla/5.0",
                "model": "m-1", "prompt": "benchmark item" if org_eval else f"hello, help me plan day {j}",
                "capability": "chitchat_advice" if not org_eval else "math_reasoning",
                "cot_score": 0.05, "template_fp": f"{abs(hash((account, j))) % (1 << 60):016x}",
            })
    return pl.DataFrame(rows)


# The feature stage's per account-day partials, aggregated from the staged requests and
# features as `detector.features.volume` does (only the columns and kinds the review reads).
_PARTIALS = (
    """
    CREATE OR REPLACE TABLE account_daily_features AS
    SELECT account_id, CAST("timestamp" AS DATE) AS day, count(*) AS requests,
           count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')) AS hosting_requests,
           min("timestamp") AS first_seen, max("timestamp") AS last_seen
    FROM requests GROUP BY ALL
    """,
    """
    CREATE OR REPLACE TABLE account_day_attributes AS
    WITH r AS (SELECT *, CAST("timestamp" AS DATE) AS day FROM requests)
    SELECT account_id, day, 'ip' AS kind, client_ip AS value, count(*) AS requests FROM r GROUP BY ALL
    UNION ALL SELECT account_id, day, 'prefix', ip_prefix, count(*) FROM r WHERE ip_prefix IS NOT NULL GROUP BY ALL
    UNION ALL SELECT account_id, day, 'user_agent', user_agent, count(*) FROM r WHERE user_agent IS NOT NULL GROUP BY ALL
    UNION ALL SELECT account_id, day, 'model', model, count(*) FROM r GROUP BY ALL
    UNION ALL SELECT account_id, day, 'capability', coalesce(capability, 'other'), count(*) FROM request_features GROUP BY ALL
    UNION ALL SELECT account_id, day, 'cot', 'elicited', count(*) FROM request_features WHERE cot_score >= 0.5 GROUP BY ALL
    """,
    """
    CREATE OR REPLACE TABLE key_daily_features AS
    SELECT api_key_id, org_id, account_id, CAST("timestamp" AS DATE) AS day, count(*) AS requests
    FROM requests GROUP BY ALL
    """,
)


def write_feature_partials(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)write the partials from `requests` and `request_features`, as a features run would."""
    for sql in _PARTIALS:
        con.execute(sql)


def build_review_store(db: Path, *, seed: int = 0) -> Population:
    """Write the tables, run the last three scan stages and precompute the review tables."""
    rng = np.random.default_rng(seed)
    pop = Population(
        attack=[f"atk-{i:03d}" for i in range(12)],
        nat=[f"uni-{i:03d}" for i in range(40)],
        evals=[f"eval-{i:02d}" for i in range(4)],
        benign=[f"user-{i:04d}" for i in range(250)],
    )
    everyone = pop.attack + pop.nat + pop.evals + pop.benign
    features = pl.concat([
        pl.DataFrame({"account_id": ids, **account_feature_values(rng, len(ids), kind)}).with_columns(
            pl.col("requests").cast(pl.Int64), pl.col("active_days").cast(pl.Int64))
        for kind, ids in (("attack", pop.attack), ("nat", pop.nat), ("eval", pop.evals), ("benign", pop.benign))
    ])
    clusters = pl.DataFrame({
        "account_id": everyone,
        "cluster_id": ["cl_attack"] * len(pop.attack) + ["cl_nat"] * len(pop.nat)
        + ["cl_eval"] * len(pop.evals) + [f"cl_{a}" for a in pop.benign],
    })
    accounts = pl.DataFrame({
        "account_id": everyone,
        "payment_fingerprint": [f"card-{i % 3}" for i in range(len(pop.attack))]
        + [f"card-uni-{i}" for i in range(len(pop.nat))]
        + ["card-evalco"] * len(pop.evals) + [f"card-u{i}" for i in range(len(pop.benign))],
        "org_id": [None] * (len(pop.attack) + len(pop.nat)) + ["org-evalco"] * len(pop.evals)
        + [None] * len(pop.benign),
        "created_at": [START + timedelta(hours=i) for i in range(len(pop.attack))]
        + [START - timedelta(days=30)] * (len(pop.nat) + len(pop.evals) + len(pop.benign)),
    })
    requests = _requests(pop, rng)
    con = store.connect(db)
    try:
        with store.transaction(con):
            for name, frame in (("account_features", features), ("clusters", clusters),
                                ("acc_v", accounts), ("req_v", requests)):
                con.register("staged", frame.to_arrow())
                if name in ("account_features", "clusters"):
                    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM staged")
                elif name == "acc_v":
                    con.execute(
                        "INSERT INTO accounts (account_id, payment_fingerprint, org_id, created_at,"
                        " ingest_run_id) SELECT account_id, payment_fingerprint, org_id, created_at, 2"
                        " FROM staged")
                else:
                    con.execute(
                        'INSERT INTO requests (request_id, "timestamp", account_id, client_ip, model,'
                        " prompt, ip_prefix, asn, as_name, network_class, user_agent, ingest_run_id)"
                        ' SELECT request_id, "timestamp", account_id, client_ip, model, prompt,'
                        " ip_prefix, asn, as_name, network_class, user_agent, 1 FROM staged")
                    con.execute(
                        'CREATE TABLE request_features AS SELECT request_id, account_id, "timestamp",'
                        ' CAST("timestamp" AS DATE) AS day, template_fp, capability, cot_score'
                        " FROM staged")
                con.unregister("staged")
            write_feature_partials(con)
            con.execute(
                "INSERT INTO ingest_runs (run_id, source, format, kind, started_at, finished_at,"
                " status, read, stored, quarantined) VALUES"
                " (1, 'logs/day1.jsonl', 'jsonl', 'requests', ?, ?, 'done', ?, ?, 3),"
                " (2, 'logs/accounts.jsonl', 'jsonl', 'accounts', ?, ?, 'done', ?, ?, 0)",
                [START, START, requests.height + 3, requests.height, START, START,
                 accounts.height, accounts.height],
            )
            con.execute(
                "INSERT INTO quarantine VALUES (1, 'logs/day1.jsonl', 7, 'missing field: prompt', '{}'),"
                " (1, 'logs/day1.jsonl', 9, 'missing field: prompt', '{}'),"
                " (1, 'logs/day1.jsonl', 12, 'unparseable timestamp', '{\"timestamp\": \"yesterday\"}')"
            )
        scan(con, stages=STAGES)
        precompute(con)
    finally:
        con.close()
    return pop


def rescan(db: Path) -> None:
    """A later scan over the same store (as the scheduled one would run), then precompute."""
    con = store.connect(db)
    try:
        scan(con, stages=STAGES)
        precompute(con)
    finally:
        con.close()
