"""Chain-of-thought elicitation score per request, from the weighted YAML rules in `rules/cot/`.

A request's score is the noisy-OR of the weights of the rules that fire on its prompt or
system prompt: `1 - prod(1 - weight)`. A casual "think step by step" alone scores its small
weight (0.15); elaborate elicitation (full reasoning in tags, every step, rubric grading)
combines into a score above 0.7. Each rule is one Rust-regex `str.contains` over a whole column.
"""

from __future__ import annotations

import polars as pl

from detector.features.cot_rules import CotRule, load_cot_rules

# A request counts towards an account's `cot_share` from this score up: more than the casual
# cue alone, e.g. one strong rule (hidden reasoning, tags, student model) or two moderate ones.
COT_SHARE_THRESHOLD = 0.5

# Cues sit at the start (instructions) or the end ("...think step by step") of long prompts;
# the middle of a multi-page document is skipped to bound the regex work per request.
HEAD_CHARS = 2000
TAIL_CHARS = 1000
BATCH_ROWS = 250_000


def cot_elicitation_scores(frame: pl.DataFrame, rules: tuple[CotRule, ...] | None = None) -> pl.DataFrame:
    """Columns request_id, cot_score (float in [0, 1]) and cot_rules (ids of the rules that fired).

    Large frames are scored in slices of BATCH_ROWS so the lowercased copies stay small.
    """
    rules = load_cot_rules() if rules is None else rules
    if frame.height <= BATCH_ROWS:
        return _score_batch(frame, rules)
    return pl.concat([_score_batch(frame.slice(start, BATCH_ROWS), rules) for start in range(0, frame.height, BATCH_ROWS)])


def _score_batch(frame: pl.DataFrame, rules: tuple[CotRule, ...]) -> pl.DataFrame:
    texts = frame.select(
        "request_id",
        _scan_window(pl.col("prompt")).str.to_lowercase().alias("prompt"),
        pl.col("system_prompt").fill_null("").str.to_lowercase(),
    )
    prompt_hits = _rule_hits(texts.get_column("prompt"), rules)
    # System prompts repeat across many requests: match each distinct one once.
    systems = texts.get_column("system_prompt").unique()
    system_hits = pl.concat([pl.DataFrame({"system_prompt": systems}), _rule_hits(systems, rules)], how="horizontal")
    per_request = texts.select("system_prompt").join(system_hits, on="system_prompt", how="left", maintain_order="left")
    fired = [(prompt_hits.get_column(rule.id) | per_request.get_column(rule.id)).alias(rule.id) for rule in rules]
    matched = pl.DataFrame(fired) if fired else pl.DataFrame({"_": [None] * frame.height})
    return pl.concat([frame.select("request_id"), matched], how="horizontal").select(
        "request_id",
        _noisy_or(rules).alias("cot_score"),
        _fired_ids(rules).alias("cot_rules"),
    )


def _scan_window(text: pl.Expr) -> pl.Expr:
    text = text.fill_null("")
    long = text.str.len_chars() > HEAD_CHARS + TAIL_CHARS
    return pl.when(long).then(text.str.head(HEAD_CHARS) + "\n" + text.str.tail(TAIL_CHARS)).otherwise(text)


def _rule_hits(texts: pl.Series, rules: tuple[CotRule, ...]) -> pl.DataFrame:
    """One boolean column per rule over lowercased `texts` (rules run in parallel)."""
    return pl.DataFrame({"text": texts}).select(
        pl.col("text").str.contains(rule.regex).alias(rule.id) for rule in rules
    )


def _noisy_or(rules: tuple[CotRule, ...]) -> pl.Expr:
    if not rules:
        return pl.lit(0.0)
    miss = pl.lit(1.0)
    for rule in rules:
        miss = miss * pl.when(pl.col(rule.id)).then(1.0 - rule.weight).otherwise(1.0)
    return (1.0 - miss).clip(0.0, 1.0)


def _fired_ids(rules: tuple[CotRule, ...]) -> pl.Expr:
    if not rules:
        return pl.lit([], dtype=pl.List(pl.String))
    ids = [pl.when(pl.col(rule.id)).then(pl.lit(rule.id)) for rule in rules]
    return pl.concat_list(ids).list.drop_nulls()
