"""A hand-built store with feature and graph tables, so scan tests run without those stages.

Population: benign accounts in singleton clusters, a campus NAT cluster (one e-mail domain,
distinct payment methods, diverse templates), an evaluation-harness organisation (CoT-heavy,
shared benchmark templates, one org), and one attack cluster (shared payment methods, rare
shared templates, CoT elicitation, hosting IPs).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from synthetic_accounts import START, Population, account_feature_values

from detector import store
from detector.scan import Stage, campaigns_stage, rules_stage, scoring_stage


def build_store(
    db: Path, *, seed: int = 0, attack_size: int = 12, extra_attack: int = 0, ingest_run: int = 1
) -> Population:
    """Write (or rewrite) the store's feature, graph, account and request tables."""
    rng = np.random.default_rng(seed)
    pop = Population(
        attack=[f"atk-{i:03d}" for i in range(attack_size + extra_attack)],
        nat=[f"uni-{i:03d}" for i in range(40)],
        evals=[f"eval-{i:02d}" for i in range(4)],
        benign=[f"user-{i:04d}" for i in range(250)],
    )
    frames = []
    for kind, ids in (("attack", pop.attack), ("nat", pop.nat), ("eval", pop.evals), ("benign", pop.benign)):
        cols = account_feature_values(rng, len(ids), kind)
        frames.append(pl.DataFrame({"account_id": ids, **cols}).with_columns(
            pl.col("requests").cast(pl.Int64), pl.col("active_days").cast(pl.Int64)))
    features = pl.concat(frames)
    clusters = pl.DataFrame({
        "account_id": pop.attack + pop.nat + pop.evals + pop.benign,
        "cluster_id": ["cl_attack"] * len(pop.attack) + ["cl_nat"] * len(pop.nat)
        + ["cl_eval"] * len(pop.evals) + [f"cl_{a}" for a in pop.benign],
    })
    accounts = pl.DataFrame({
        "account_id": pop.attack + pop.nat + pop.evals + pop.benign,
        "payment_fingerprint": [f"card-{i % 3}" for i in range(len(pop.attack))]
        + [f"card-uni-{i}" for i in range(len(pop.nat))]
        + ["card-evalco"] * len(pop.evals) + [f"card-u{i}" for i in range(len(pop.benign))],
        "org_id": [None] * len(pop.attack) + [None] * len(pop.nat) + ["org-evalco"] * len(pop.evals)
        + [None] * len(pop.benign),
        "created_at": [START + timedelta(hours=i) for i in range(len(pop.attack))]
        + [START - timedelta(days=30)] * (len(pop.nat) + len(pop.evals) + len(pop.benign)),
    })
    # A few requests per account: enough for evidence, first/last seen and "accounts seen".
    req_rows = []
    for account in accounts["account_id"]:
        is_attack = account.startswith("atk")
        for j in range(3):
            order = int(account.split("-")[1]) if is_attack else 500 + j
            req_rows.append({
                "request_id": f"{account}-r{j}",
                "timestamp": START + timedelta(hours=order, minutes=j),
                "account_id": account,
                "client_ip": f"203.0.113.{j + 1}" if is_attack else f"198.51.100.{hash(account) % 200}",
                "model": "m-1",
                "prompt": f"Solve step {j} and show every intermediate step" if is_attack else "hello",
                "ip_prefix": "203.0.113.0/24" if is_attack else "198.51.100.0/24",
                "asn": 64500 if is_attack else 64501,
                "ingest_run_id": ingest_run,
            })
    requests = pl.DataFrame(req_rows)
    con = store.connect(db)
    try:
        with store.transaction(con):
            for name, frame in (("account_features", features), ("clusters", clusters),
                                ("staged_accounts", accounts), ("staged_requests", requests)):
                con.register("staged", frame.to_arrow())
                if name in ("account_features", "clusters"):
                    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM staged")
                elif name == "staged_accounts":
                    con.execute("DELETE FROM accounts")
                    con.execute(
                        "INSERT INTO accounts (account_id, payment_fingerprint, org_id, created_at,"
                        " ingest_run_id) SELECT account_id, payment_fingerprint, org_id, created_at, 1"
                        " FROM staged"
                    )
                else:
                    con.execute(
                        "INSERT INTO requests (request_id, \"timestamp\", account_id, client_ip, model,"
                        " prompt, ip_prefix, asn, ingest_run_id)"
                        " SELECT request_id, \"timestamp\", account_id, client_ip, model, prompt,"
                        " ip_prefix, asn, ingest_run_id FROM staged s"
                        " WHERE NOT EXISTS (SELECT 1 FROM requests r WHERE r.request_id = s.request_id)"
                    )
                con.unregister("staged")
            con.execute(
                "INSERT INTO ingest_runs (run_id, source, format, kind, started_at, finished_at, status)"
                " SELECT ?, 'test', 'jsonl', 'requests', now(), now(), 'done'"
                " WHERE NOT EXISTS (SELECT 1 FROM ingest_runs WHERE run_id = ?)",
                [ingest_run, ingest_run],
            )
    finally:
        con.close()
    return pop


# Scans in these tests skip the features and graph stages: their tables are built above.
TEST_STAGES: tuple[Stage, ...] = (
    ("scoring", scoring_stage),
    ("rules", rules_stage),
    ("campaigns", campaigns_stage),
)


@pytest.fixture
def stages() -> tuple[Stage, ...]:
    return TEST_STAGES


@pytest.fixture
def built_store(tmp_path: Path) -> tuple[Path, Population]:
    db = tmp_path / "scan.duckdb"
    return db, build_store(db)


@pytest.fixture
def rebuild() -> Callable[..., Population]:
    return build_store
