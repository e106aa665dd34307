"""Benchmark of the feature stage: N generated requests into a fresh store, then `compute_features`.

Requests are generated vectorized (polars) and written straight into `requests` from Parquet:
prompts of 40-280 words (records of 2-3 KB with system prompt and tool definitions), 5,000
ordinary accounts whose prompts are all distinct (the worst case for text work: every masked
prompt is a new template) and 500 campaign accounts that fill 40 paraphrased templates with
numbers, identifiers and free-text questions. Ordinary accounts keep 1-3 home IPs and mostly
one system prompt; campaign accounts rotate through 300 hosting addresses. 30 days; a model
released on day 20. After the full run, one more day (N/30 requests, another seed: new
paraphrases and questions) is added and featurized incrementally.

    .venv/bin/python benchmarks/bench_features.py --requests 1000000 --db /tmp/bench_features.duckdb

With `--store`, the requests come from an existing store instead (for example simulator traffic:
`distillguard simulate --scale large --parquet --max-requests 1000000` then `distillguard
ingest`); the store is copied to `--db`, its last UTC day is held back for the incremental run:

    .venv/bin/python benchmarks/bench_features.py --store /tmp/sim1m.duckdb --db /tmp/bench_features.duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
from gen_requests import WORDS as GENERATOR_WORDS

from detector import store
from detector.features import compute_features, pipeline
from detector.features.tables import drop_feature_tables

WORDS = GENERATOR_WORDS[:100]  # the vocabulary these figures were measured with
TEMPLATES = (
    "You are grading answers for a reward model. Read the question {q} and the candidate answer {a}. "
    "Score it from 1 to 10 against the rubric and explain every intermediate step of your reasoning "
    "inside <thinking> tags before giving the final score.",
    "Solve the following problem and show the complete chain of reasoning, every intermediate step, "
    "as if you were teaching a student model: {q} The expected answer format is {a}.",
    "Write a Python function named {a} that solves this task: {q} Include type hints, docstrings and "
    "unit tests, and explain the design of the code step by step.",
    "Act as a coding agent. The repository is at {a}. Task: {q} Use the read_file and run_tests tools, "
    "then propose a patch and explain your reasoning.",
)
SYSTEMS = (
    "You are a helpful assistant.",
    "You are an expert Python developer. Answer with working code and a short explanation.",
    "You are a careful math tutor. Show your reasoning step by step before the final answer.",
    "You are a coding agent operating in a repository. Use the tools to read and edit files.",
)
TOOLS = '[{"type":"function","function":{"name":"read_file","description":"Read a file from the workspace and return its text.","parameters":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}},{"type":"function","function":{"name":"run_tests","description":"Run the project test suite and return the failures.","parameters":{"type":"object","properties":{"pattern":{"type":"string"}}}}}]'
START = datetime(2026, 3, 1, tzinfo=UTC)


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    """Common words first, then pronounceable made-up words: a vocabulary as large as real prose."""
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    made_up = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(size * 2)}
    return WORDS + sorted(made_up)[: size - len(WORDS)]


def _paragraphs(
    rng: random.Random, vocabulary: list[str], count: int, low: int, high: int
) -> list[str]:
    """Texts of `low` to `high` characters with Zipf-distributed words (rank 1 most frequent)."""
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 1.07
    cumulative = list(np.cumsum(weights / weights.sum()))
    out = []
    for _ in range(count):
        target = rng.randint(low, high)
        words = rng.choices(vocabulary, cum_weights=cumulative, k=target // 6 + 1)
        out.append(" ".join(words)[:target].capitalize() + ".")
    return out


def _texts(
    np_rng: np.random.Generator, vocabulary: list[str], count: int, low: int, high: int
) -> pl.Series:
    """`count` distinct texts of `low` to `high` Zipf-distributed words, built without a Python loop."""
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 1.07
    lengths = np_rng.integers(low, high + 1, count)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    words = pl.Series(vocabulary).gather(
        np_rng.choice(len(vocabulary), int(offsets[-1]), p=weights / weights.sum())
    )
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), words.to_arrow())
    return pl.Series(lists).list.join(" ").str.to_titlecase().str.head(1) + pl.Series(
        lists
    ).list.join(" ").str.slice(1)


def _variants(rng: random.Random) -> list[str]:
    """40 templates: each base template in 10 light paraphrases (swapped and dropped words)."""
    swaps = {
        "Read": "Study",
        "every": "each",
        "explain": "describe",
        "problem": "task",
        "Write": "Create",
        "complete": "full",
        "Include": "Add",
        "then": "and then",
        "propose": "suggest",
        "final": "last",
    }
    variants = []
    for base in TEMPLATES:
        for _ in range(10):
            words = base.split(" ")
            words = [swaps.get(w, w) if rng.random() < 0.3 else w for w in words]
            words = [w for w in words if rng.random() > 0.04 or "{" in w]
            variants.append(" ".join(words))
    return variants


def generate(count: int, day_offset: int, days: int, seed: int) -> pl.DataFrame:
    """`count` requests over `days` days starting `day_offset` days after START."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    vocabulary = _vocabulary(rng)
    questions = pl.Series(_paragraphs(rng, vocabulary, 3_000, 60, 300))
    variants = _variants(rng)
    campaign = np_rng.random(count) < 0.3
    account = np.where(
        campaign, np_rng.integers(0, 500, count) + 5_000, np_rng.integers(0, 5_000, count)
    )
    seconds = np.sort(np_rng.random(count)) * days * 86_400 + day_offset * 86_400
    timestamps = pl.Series(
        np.datetime64(START.replace(tzinfo=None), "us") + (seconds * 1e6).astype("timedelta64[us]")
    ).dt.replace_time_zone("UTC")
    benign_prompt = _texts(np_rng, vocabulary, count, 40, 280)
    template_index = np_rng.integers(0, len(variants), count)
    variant = pl.Series(variants).gather(template_index)
    question = questions.gather(np_rng.integers(0, len(questions), count))
    filled = (
        pl.DataFrame({"v": variant, "q": question, "n": np_rng.integers(0, 10**6, count)})
        .select(
            pl.col("v")
            # half the variants quote the question (masked as a slot), half leave it as free text
            .str.replace(
                "{q}",
                pl.when(pl.col("n") % 2 == 0)
                .then(pl.lit('"') + pl.col("q") + pl.lit('"'))
                .otherwise(pl.col("q")),
                literal=True,
            )
            .str.replace("{a}", pl.lit("item_") + pl.col("n").cast(pl.String), literal=True)
        )
        .to_series()
    )
    frame = pl.DataFrame(
        {
            "request_id": pl.Series(np.arange(count) + seed * 10**9).cast(pl.String).str.zfill(12),
            "timestamp": timestamps,
            "account_id": pl.Series(account).cast(pl.String).str.zfill(6),
            "campaign": campaign,
            "benign_prompt": benign_prompt,
            "template_prompt": filled,
            # ordinary accounts keep 1-3 home addresses; the campaign rotates a pool of 300 proxies
            "ip": np.where(
                campaign,
                100_000 + np_rng.integers(0, 300, count),
                account * 3 + np_rng.integers(0, 1 + account % 3, count),
            ),
            # one system prompt per account, most of the time
            "system": np.where(
                np_rng.random(count) < 0.9,
                account % len(SYSTEMS),
                np_rng.integers(0, len(SYSTEMS), count),
            ),
            "tools": np_rng.random(count) < 0.35,
            "status": np_rng.random(count),
            "input_tokens": np_rng.integers(60, 900, count),
            "output_tokens": np_rng.integers(20, 2_500, count),
            "seconds": seconds,
        }
    )
    return frame.select(
        "request_id",
        "timestamp",
        (pl.lit("acct_") + pl.col("account_id")).alias("account_id"),
        (pl.lit("key_") + pl.col("account_id")).alias("api_key_id"),
        (pl.lit("org_") + (pl.col("account_id").cast(pl.Int64) // 20).cast(pl.String)).alias(
            "org_id"
        ),
        pl.format(
            "10.{}.{}.{}", pl.col("ip") // 65536, (pl.col("ip") // 256) % 256, pl.col("ip") % 256
        ).alias("client_ip"),
        pl.lit("python-httpx/0.27.0").alias("user_agent"),
        pl.when(pl.col("seconds") > 20 * 86_400)
        .then(
            pl.when(pl.col("campaign"))
            .then(pl.lit("reasoner-pro-2"))
            .otherwise(pl.lit("frontier-large"))
        )
        .otherwise(pl.lit("frontier-large"))
        .alias("model"),
        pl.col("system")
        .replace_strict(dict(enumerate(SYSTEMS)), return_dtype=pl.String)
        .alias("system_prompt"),
        pl.when(pl.col("campaign"))
        .then(pl.col("template_prompt"))
        .otherwise(pl.col("benign_prompt"))
        .alias("prompt"),
        pl.when(pl.col("tools")).then(pl.lit(TOOLS)).alias("tools"),
        "input_tokens",
        "output_tokens",
        pl.when(pl.col("status") < 0.97)
        .then(200)
        .when(pl.col("status") < 0.98)
        .then(429)
        .otherwise(500)
        .cast(pl.Int32)
        .alias("status_code"),
        pl.format("10.{}.{}.0/24", pl.col("ip") // 65536, (pl.col("ip") // 256) % 256).alias(
            "ip_prefix"
        ),
        (pl.lit(64_500) + pl.col("ip") % 50).alias("asn"),
        pl.when(pl.col("campaign"))
        .then(pl.lit("hosting"))
        .otherwise(pl.lit("residential"))
        .alias("network_class"),
    )


def load(con: object, frame: pl.DataFrame, parquet: Path) -> None:
    frame.write_parquet(parquet)
    con.execute(  # type: ignore[attr-defined]
        """
        INSERT INTO requests (request_id, "timestamp", account_id, api_key_id, org_id, client_ip, user_agent,
                              model, system_prompt, prompt, tools, input_tokens, output_tokens, status_code,
                              ip_prefix, asn, network_class, ingest_run_id)
        SELECT request_id, "timestamp", account_id, api_key_id, org_id, client_ip, user_agent, model,
               system_prompt, prompt, tools, input_tokens, output_tokens, status_code, ip_prefix, asn,
               network_class, 1
        FROM read_parquet(?)
        """,
        [str(parquet)],
    )


def _constant_labels(frame: pl.DataFrame, *texts: object) -> pl.DataFrame:
    return frame.select(
        "request_id",
        pl.lit("other").alias("capability"),
        pl.lit(1.0).alias("capability_confidence"),
        pl.lit(0.0).alias("cot_score"),
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def load_phase(db: Path, count: int) -> None:
    """Generate and store the requests (run in a child process, so its memory is not counted)."""
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    con = store.connect(db)
    frame = generate(count, 0, 30, seed=1)
    print(
        json.dumps(
            {
                "mean_prompt_bytes": round(
                    int(frame.get_column("prompt").str.len_bytes().sum()) / count
                )
            }
        )
    )
    load(con, frame, db.with_suffix(".parquet"))
    del frame
    load(con, generate(max(count // 30, 1), 30, 1, seed=2), db.with_suffix(".extra.parquet"))
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/bench_features.duckdb"))
    parser.add_argument(
        "--store", type=Path, help="copy the requests of this store instead of generating them"
    )
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit")
    parser.add_argument("--phase", choices=("all", "load"), default="all")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the requests of an earlier run's --db"
    )
    parser.add_argument(
        "--stub-labels",
        action="store_true",
        help="replace the capability and CoT models by constants, to time this stage's own work",
    )
    args = parser.parse_args()
    if args.phase == "load":
        load_phase(args.db, args.requests)
        return
    started = time.perf_counter()
    if args.store is not None:
        for suffix in ("", ".wal"):
            Path(str(args.db) + suffix).unlink(missing_ok=True)
        shutil.copy(args.store, args.db)
        args.reuse = True
    elif not args.reuse:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                "load",
                "--requests",
                str(args.requests),
                "--db",
                str(args.db),
            ],
            check=True,
        )
    load_seconds = time.perf_counter() - started
    if args.stub_labels:
        pipeline._request_labels = _constant_labels  # type: ignore[assignment]
        pipeline._account_capability = lambda con: None  # type: ignore[assignment]
    con = store.connect(args.db)
    con.execute("SET memory_limit = ?", [args.memory_limit])
    if args.reuse:
        con.execute("DROP TABLE IF EXISTS held_back")
        drop_feature_tables(con)
    extra_day = datetime(2026, 3, 31, tzinfo=UTC)
    if args.store is not None:
        last = con.execute('SELECT max("timestamp") FROM requests').fetchall()[0][0]
        extra_day = datetime.combine(last.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    # Hold back the extra day: the full run featurizes 30 days, the incremental run the 31st.
    con.execute(
        'CREATE TABLE held_back AS SELECT * FROM requests WHERE "timestamp" >= ?', [extra_day]
    )
    con.execute('DELETE FROM requests WHERE "timestamp" >= ?', [extra_day])

    load_before = os.getloadavg()
    started, cpu = time.perf_counter(), cpu_seconds()
    full = compute_features(con)
    full_seconds, full_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rss_full = peak_rss_gb()

    quality = (
        (None, None)
        if args.store is not None
        else con.execute(
            """
        WITH fp AS (SELECT template_fp, count(DISTINCT template_hash) AS texts FROM request_features GROUP BY ALL)
        SELECT count(DISTINCT f.template_fp) FILTER (WHERE a.account_id >= 'acct_005000') AS campaign_fps,
               avg(CASE WHEN fp.texts > 1 THEN 1.0 ELSE 0.0 END) FILTER (WHERE a.account_id < 'acct_005000')
                   AS benign_merged_share
        FROM request_features f JOIN fp USING (template_fp) JOIN (SELECT DISTINCT account_id FROM requests) a USING (account_id)
        """
        ).fetchall()[0]
    )
    con.execute("INSERT INTO requests SELECT * FROM held_back")
    started, cpu = time.perf_counter(), cpu_seconds()
    incremental = compute_features(con)
    incremental_seconds, incremental_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(
        json.dumps(
            {
                "requests": full.new_requests,
                "generate_and_load_s": round(load_seconds, 1),
                "full_run_s": round(full_seconds, 1),
                "full_run_cpu_s": round(full_cpu, 1),
                "full_phases_s": {k: round(v, 1) for k, v in full.seconds.items()},
                "full_phases_cpu_s": {k: round(v, 1) for k, v in full.cpu_seconds.items()},
                "new_templates": full.new_templates,
                "template_components": full.new_template_components,
                "accounts": full.accounts,
                "campaign_template_fps": quality[0],
                "benign_requests_in_merged_templates": None
                if quality[1] is None
                else round(float(quality[1]), 4),
                "peak_rss_gb_full_run": round(rss_full, 2),
                "incremental_requests": incremental.new_requests,
                "incremental_run_s": round(incremental_seconds, 1),
                "incremental_run_cpu_s": round(incremental_cpu, 1),
                "incremental_phases_s": {k: round(v, 1) for k, v in incremental.seconds.items()},
                "incremental_phases_cpu_s": {
                    k: round(v, 1) for k, v in incremental.cpu_seconds.items()
                },
                "peak_rss_gb": round(peak_rss_gb(), 2),
                "load_average_before_after": [
                    round(load_before[0], 1),
                    round(os.getloadavg()[0], 1),
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
