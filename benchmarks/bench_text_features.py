"""Throughput of the text features: capability classification and CoT elicitation scoring.

Requests are built from the real prompts of `data/capability_examples/examples.csv`: a task
prompt, then a context passage from another example cut to a log-normal length (median about
1,000 characters, up to 8,000), a per-request ticket number so that no two prompts are equal
(deduplication gets no free win), a CoT cue on a fifth of the requests, one of six system
prompts and a tool list on a third. The model is loaded from its committed artifact before
timing starts (a one-off cost per process, printed separately).

    .venv/bin/python benchmarks/bench_text_features.py --count 200000

With `--simulator DIR` (the output of `distillguard simulate`), it also reports the quality bars
of issue 4 on that traffic: the capability model's accuracy on the held-out labelled prompts,
and the ROC-AUC of the accounts' CoT share, attack accounts against casual users, with the
evaluation harnesses (legitimately CoT-heavy) and the other benign populations listed apart.

    .venv/bin/python benchmarks/bench_text_features.py --count 0 --simulator /tmp/sim_small
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import rankdata

from detector.features.capability import classify_requests
from detector.features.capability_accounts import account_capability_features
from detector.features.capability_model import load_examples, trained_capability_model
from detector.features.cot import cot_elicitation_scores
from detector.features.distinct import distinct_texts
from detector.features.labels import request_labels

SYSTEM_PROMPTS = [
    None,
    "You are a helpful assistant.",
    "You are an expert Python developer. Answer with working code and a short explanation.",
    "You are a careful math tutor. Show your reasoning step by step before the final answer.",
    "You are a customer support agent for an online store. Be polite and concise.",
    "Put your full reasoning inside <think></think> tags, then give the final answer.",
]
TOOL_LISTS = [
    json.dumps(["read_file", "write_file", "bash", "run_tests"]),
    json.dumps([{"type": "function", "function": {"name": "search_flights", "description": "Search flights", "parameters": {}}}]),
    json.dumps([{"name": "computer", "input_schema": {"type": "object"}}]),
]
COT_CUES = [
    "\nLet's think step by step.",
    "\nShow every intermediate step and wrap your complete chain of thought in <reasoning> tags.",
    "\nScore the response above from 1 to 10 according to the rubric and justify the score.",
    "\nThe correct answer is 17. Reconstruct the reasoning that leads to this answer.",
]


def build_requests(count: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    pool = load_examples().get_column("text")
    lengths = np.minimum(rng.lognormal(mean=np.log(1000), sigma=0.8, size=count), 8000).astype(np.int64)
    cues = np.where(rng.random(count) < 0.2, rng.integers(0, len(COT_CUES), count), -1)
    tools = np.where(rng.random(count) < 1 / 3, rng.integers(0, len(TOOL_LISTS), count), -1)
    frame = pl.DataFrame(
        {
            "request_id": [f"req-{i}" for i in range(count)],
            "task": pool.gather(rng.integers(0, len(pool), count)),
            "context": pool.gather(rng.integers(0, len(pool), count)),
            "length": lengths,
            "ticket": np.arange(count),
            "cue": pl.Series(cues).replace_strict(dict(enumerate(COT_CUES)), default="", return_dtype=pl.String),
            "system_prompt": pl.Series(rng.integers(0, len(SYSTEM_PROMPTS), count)).replace_strict(
                dict(enumerate(SYSTEM_PROMPTS)), return_dtype=pl.String
            ),
            "tools": pl.Series(tools).replace_strict(dict(enumerate(TOOL_LISTS)), default=None, return_dtype=pl.String),
        }
    )
    prompt = pl.concat_str(
        pl.col("task"), pl.lit("\n\nContext (ticket "), pl.col("ticket").cast(pl.String), pl.lit("):\n"),
        pl.col("context").str.head(pl.col("length")), pl.col("cue"),
    )
    return frame.select("request_id", prompt.alias("prompt"), "system_prompt", "tools")


def timed(label: str, count: int, action: Callable[[], object]) -> None:
    """Wall and process CPU time (CPU over both cores: the better guide on a shared machine)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    action()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"{label:<24} wall {wall:7.2f} s {count / wall:10,.0f} req/s | CPU {cpu:7.2f} s {count / cpu:10,.0f} req/CPU-s")


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    ranks = rankdata(np.concatenate([positive, negative]))  # ties get their average rank
    positive_ranks = ranks[: len(positive)].sum()
    return float((positive_ranks - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def simulator_quality(directory: Path) -> None:
    """Classifier accuracy on held-out prompts and CoT-share AUC per population of simulated traffic."""
    held_out = load_examples("held_out")
    predicted = classify_requests(
        held_out.select(
            pl.int_range(pl.len()).cast(pl.String).alias("request_id"), pl.col("text").alias("prompt"),
            pl.lit(None, dtype=pl.String).alias("system_prompt"), pl.lit(None, dtype=pl.String).alias("tools"),
        )
    ).get_column("capability")
    accuracy = float((predicted == held_out.get_column("capability")).mean())
    print(f"capability classifier: held-out accuracy {accuracy:.3f} on {held_out.height:,} labelled prompts")
    requests = pl.read_parquet(directory / "requests.parquet", columns=["request_id", "account_id", "prompt", "system_prompt", "tools"])
    start, cpu_start = time.perf_counter(), time.process_time()
    labels = request_labels(
        requests.get_column("request_id"),
        distinct_texts(requests.get_column("prompt")),
        distinct_texts(requests.get_column("system_prompt")),
        distinct_texts(requests.get_column("tools")),
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"request_labels on {requests.height:,} simulated requests: wall {wall:.1f} s, CPU {cpu:.1f} s")
    accounts = account_capability_features(
        requests.select("request_id", "account_id").join(labels, on="request_id")
    ).join(pl.read_csv(directory / "truth.csv"), on="account_id")
    casual = accounts.filter(pl.col("kind") == "casual").get_column("cot_share").to_numpy()
    attack = accounts.filter(pl.col("label") != "benign").get_column("cot_share").to_numpy()
    print(f"  all attack accounts {len(attack):5d}  cot_share mean {attack.mean():.3f}  AUC vs casual {roc_auc(attack, casual):.4f}")
    for (label, kind), group in accounts.group_by("label", "kind", maintain_order=True):
        share = group.get_column("cot_share").to_numpy()
        versus = f"AUC vs casual {roc_auc(share, casual):.4f}" if label != "benign" else ""
        print(f"  {label:<12} {kind:<16} {len(share):5d} accounts  cot_share mean {share.mean():.3f}  {versus}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simulator", type=Path, help="output folder of `distillguard simulate`")
    args = parser.parse_args()
    if args.simulator is not None:
        simulator_quality(args.simulator)
    if args.count <= 0:
        return

    timed("model load (committed artifact; training only when it is stale)", 1, trained_capability_model)
    frame = build_requests(args.count, args.seed)
    chars = frame.get_column("prompt").str.len_chars()
    print(f"{args.count:,} requests, prompt chars mean {chars.mean():,.0f}, median {chars.median():,.0f}, "
          f"p95 {chars.quantile(0.95):,.0f}; {frame.get_column('prompt').n_unique():,} distinct prompts")
    timed("cot_elicitation_scores", args.count, lambda: cot_elicitation_scores(frame))
    timed("classify_requests", args.count, lambda: classify_requests(frame))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)
    print(f"peak RSS {peak_gib:.2f} GiB")


if __name__ == "__main__":
    main()
