"""Chain-of-thought elicitation score per request, from the weighted YAML rules in `rules/cot/`.

A request's score is the noisy-OR of the weights of the rules that fire on its prompt or
system prompt: `1 - prod(1 - weight)`. A casual "think step by step" alone scores its small
weight (0.15); elaborate elicitation (full reasoning in tags, every step, rubric grading)
combines into a score above 0.7. Each rule is one Rust-regex `str.contains` over a column of
distinct lowercased texts: prompts repeat heavily, so each distinct text is matched once.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from detector.features.cot_rules import CotRule, load_cot_rules
from detector.features.distinct import distinct_texts

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
    prompts = distinct_texts(frame.get_column("prompt"))
    systems = distinct_texts(frame.get_column("system_prompt"))
    prompt_hits = rule_hits(lowered_window(prompts.values), rules)[prompts.index]
    system_hits = rule_hits(lowered_window(systems.values), rules)[systems.index]
    fired = prompt_hits | system_hits
    matched = pl.DataFrame({rule.id: fired[:, j] for j, rule in enumerate(rules)}, schema={rule.id: pl.Boolean for rule in rules})
    return pl.DataFrame(
        {"request_id": frame.get_column("request_id"), "cot_score": noisy_or(fired, rules)}
    ).with_columns(_fired_ids(rules, matched).alias("cot_rules"))


def lowered_window(texts: pl.Series) -> pl.Series:
    """The lowercased head and tail of each text, the part the CoT rules (and capability rules) read."""
    text = pl.col("t").fill_null("")
    long = text.str.len_chars() > HEAD_CHARS + TAIL_CHARS
    window = pl.when(long).then(text.str.head(HEAD_CHARS) + "\n" + text.str.tail(TAIL_CHARS)).otherwise(text)
    return pl.DataFrame({"t": texts}).select(window.str.to_lowercase()).to_series()


def rule_hits(lowered: pl.Series, rules: tuple[CotRule, ...]) -> np.ndarray:
    """A (texts x rules) boolean matrix: which rule fires on each lowercased text (rules run in parallel)."""
    if not rules or lowered.len() == 0:
        return np.zeros((lowered.len(), len(rules)), dtype=bool)
    hits = pl.DataFrame({"text": lowered}).select(
        pl.col("text").str.contains(rule.regex).fill_null(False).alias(rule.id) for rule in rules
    )
    return hits.to_numpy().astype(bool, copy=False).reshape(lowered.len(), len(rules))


def noisy_or(fired: np.ndarray, rules: tuple[CotRule, ...]) -> np.ndarray:
    """`1 - prod(1 - weight)` over the rules that fired, per row of a (rows x rules) matrix."""
    if not rules:
        return np.zeros(len(fired))
    weights = np.array([rule.weight for rule in rules])
    miss = np.where(fired, 1.0 - weights, 1.0).prod(axis=1)
    return np.clip(1.0 - miss, 0.0, 1.0)


def _fired_ids(rules: tuple[CotRule, ...], matched: pl.DataFrame) -> pl.Expr:
    if not rules:
        return pl.lit([], dtype=pl.List(pl.String))
    ids = [pl.when(matched.get_column(rule.id)).then(pl.lit(rule.id)) for rule in rules]
    return pl.concat_list(ids).list.drop_nulls()
