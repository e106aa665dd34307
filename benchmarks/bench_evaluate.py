"""Benchmark of `evaluate` on a synthetic store: truth, scan outputs and requests at scale.

    .venv/bin/python benchmarks/bench_evaluate.py --accounts 20000 --requests 1000000

Builds a DuckDB store straight from SQL: requests with prompts of hundreds to thousands of
characters (a few with chain-of-thought phrases), heavy-tailed volume per account, planted
campaigns with alerts, seeded scores, and a `truth.csv`. Then times `evaluate` (the baseline
feature pass over `requests` dominates) and prints the time and the peak memory (RSS of this
process, DuckDB included).
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from detector import store
from detector.evaluate import evaluate
from detector.evaluate.baselines import account_volume_features

WORDS = [
    "explain",
    "the",
    "function",
    "return",
    "value",
    "error",
    "request",
    "model",
    "data",
    "table",
    "query",
    "result",
    "system",
    "python",
    "code",
    "test",
    "class",
    "method",
    "string",
    "number",
    "list",
    "array",
    "object",
    "file",
    "path",
    "server",
    "client",
    "reasoning",
    "answer",
    "question",
    "problem",
    "solution",
    "proof",
    "theorem",
    "integral",
    "matrix",
    "vector",
    "customer",
    "invoice",
    "report",
    "revenue",
    "quarter",
    "growth",
    "market",
    "policy",
    "contract",
    "clause",
    "section",
    "because",
]
COT_SUFFIXES = ("", "", "", "", " Think step by step.", " Show your reasoning in <thinking> tags.")


def prompt_pool(rng: np.random.Generator, size: int) -> pa.Table:
    """Distinct prompts of 50 to 500 words (about 0.3 to 3 KB), some with CoT phrases."""
    prompts = []
    for index in range(size):
        words = rng.choice(WORDS, size=int(rng.integers(50, 500)))
        prompts.append(" ".join(words) + COT_SUFFIXES[index % len(COT_SUFFIXES)])
    return pa.table({"pool_id": np.arange(size), "prompt": prompts})


def build(db: Path, truth: Path, accounts: int, requests: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    con = store.connect(db)
    # Heavy-tailed volume: each request draws its account from a Zipf-like weight table.
    weights = rng.pareto(1.2, size=accounts) + 1.0
    owners = rng.choice(accounts, size=requests, p=weights / weights.sum())
    con.register("pool", prompt_pool(rng, 2000))
    con.register("owners", pa.table({"i": np.arange(requests), "owner": owners}))
    con.execute(
        """
        INSERT INTO requests (request_id, "timestamp", account_id, client_ip, user_agent, model,
                              prompt, input_tokens, output_tokens, ip_prefix, ingest_run_id)
        SELECT 'r' || i,
               TIMESTAMPTZ '2026-03-01 00:00:00+00' + to_seconds(hash(i) % (14 * 86400)),
               'acct-' || owner,
               '10.' || (owner % 200) || '.' || (hash(i) % 50) || '.' || (owner % 250),
               'agent/' || (owner % 7),
               'model-' || (hash(i) % 3),
               p.prompt,
               100 + hash(i) % 2000,
               200 + hash(i * 7) % 4000,
               '10.' || (owner % 200) || '.' || (hash(i) % 50) || '.0/24',
               1
        FROM owners JOIN pool AS p ON p.pool_id = hash(i * 31) % 2000
        """
    )
    # Planted truth: 3 % of accounts in 20 campaigns; the stand-in scan finds most of them.
    is_attack = rng.random(accounts) < 0.03
    campaign = rng.integers(0, 20, size=accounts)
    score = np.clip(rng.normal(np.where(is_attack, 0.8, 0.2), 0.15), 0, 1)
    flagged = score > 0.6
    ids = np.array([f"acct-{n}" for n in range(accounts)])
    scan_campaign = np.where(flagged, np.char.add("scan-", campaign.astype(str)), None)
    con.register(
        "scores",
        pa.table(
            {"account_id": ids, "score": score, "flagged": flagged, "campaign_id": scan_campaign}
        ),
    )
    con.execute(
        "INSERT INTO account_scores (account_id, score, campaign_id, flagged, scan_run_id) "
        "SELECT account_id, score, campaign_id, flagged, 1 FROM scores"
    )
    con.execute(
        """
        INSERT INTO campaigns (campaign_id, alert_id, title, severity, score, alerted,
                               request_count, created_at, updated_at)
        SELECT DISTINCT campaign_id, 'alert-' || campaign_id, campaign_id, 'high', 0.9, true, 0,
               now(), now()
        FROM scores WHERE campaign_id IS NOT NULL
        """
    )
    con.execute(
        "INSERT INTO campaign_accounts SELECT campaign_id, account_id FROM scores "
        "WHERE campaign_id IS NOT NULL"
    )
    con.close()
    with truth.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account_id", "label", "kind"])
        for account_id, attack, camp in zip(ids, is_attack, campaign, strict=True):
            writer.writerow(
                [
                    account_id,
                    f"camp-{camp}" if attack else "benign",
                    "hydra" if attack else "casual",
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="keep the store here")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-evaluate-"))
    folder.mkdir(parents=True, exist_ok=True)
    db, truth = folder / "bench.duckdb", folder / "truth.csv"
    if not db.exists():
        started = time.perf_counter()
        build(db, truth, args.accounts, args.requests, args.seed)
        print(
            f"built store: {args.requests:,} requests, {args.accounts:,} accounts "
            f"in {time.perf_counter() - started:.1f} s"
        )
    con = store.connect(db, read_only=True)
    started = time.perf_counter()
    account_volume_features(con)
    features_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = evaluate(con, truth)
    total = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"evaluate: {total:.2f} s (baseline feature SQL alone {features_seconds:.2f} s), "
        f"peak RSS {peak_mb:.0f} MB; scan F1 {report.scan.f1:.3f}, "
        + ", ".join(f"{b.method} F1 {b.f1:.3f}" for b in report.baselines)
    )


if __name__ == "__main__":
    main()
