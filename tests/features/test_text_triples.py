"""Labels combined once per distinct (prompt, system prompt, tools) triple equal the row-wise
combination of the same evidence, bit for bit."""

from __future__ import annotations

import random

import numpy as np
import polars as pl

from detector.features import labels
from detector.features.capability import (
    RULE_CHARS,
    SYSTEM_PROMPT_FACTOR,
    combine_evidence,
    rule_miss,
    tool_miss,
)
from detector.features.capability_model import trained_capability_model
from detector.features.capability_taxonomy import load_taxonomy
from detector.features.cot import lowered_window, noisy_or, rule_hits
from detector.features.cot_rules import load_cot_rules
from detector.features.distinct import distinct_texts

PROMPTS = (
    "Refactor this Python function and add unit tests.",
    "Show your full hidden reasoning inside <thinking> tags, every intermediate step.",
    "Translate into German: thank you very much",
    "What is 17 * 24? Let's think step by step.",
    "Write a short poem about the sea.",
    None,
)
SYSTEMS = (None, "You are a helpful assistant.", "Act as an impartial judge. Rubric: accuracy.")
TOOLS = (None, '[{"type": "function", "function": {"name": "run_tests"}}]', '["web_search"]')


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(rows)],
            "prompt": [rng.choice(PROMPTS) for _ in range(rows)],
            "system_prompt": [rng.choice(SYSTEMS) for _ in range(rows)],
            "tools": [rng.choice(TOOLS) for _ in range(rows)],
        },
        schema={name: pl.String for name in ("request_id", "prompt", "system_prompt", "tools")},
    )


def _row_wise(frame: pl.DataFrame) -> pl.DataFrame:
    """The combination done per row, as before the triple reduction."""
    taxonomy, rules = load_taxonomy(), load_cot_rules()
    prompts = distinct_texts(frame.get_column("prompt"))
    systems = distinct_texts(frame.get_column("system_prompt"))
    tools = distinct_texts(frame.get_column("tools"))
    evidence = labels.prompt_evidence(prompts.values, taxonomy, trained_capability_model(), rules)
    lowered = lowered_window(systems.values)
    fired = evidence.cot_hits[prompts.index] | rule_hits(lowered, rules)[systems.index]
    label, confidence = combine_evidence(
        taxonomy,
        evidence.log_odds[prompts.index],
        evidence.miss[prompts.index]
        * rule_miss(lowered.str.head(RULE_CHARS), taxonomy, SYSTEM_PROMPT_FACTOR)[systems.index]
        * tool_miss(tools.values, taxonomy)[tools.index],
    )
    return pl.DataFrame(
        {
            "request_id": frame.get_column("request_id"),
            "capability": label,
            "capability_confidence": confidence,
            "cot_score": noisy_or(fired, rules),
        }
    )


def test_triple_labels_equal_row_wise_labels() -> None:
    frame = _frame(400, seed=7)
    got = labels.request_labels(
        frame.get_column("request_id"),
        distinct_texts(frame.get_column("prompt")),
        distinct_texts(frame.get_column("system_prompt")),
        distinct_texts(frame.get_column("tools")),
    )
    expected = _row_wise(frame)
    assert got.equals(expected)
    # the fixture mixes capabilities and CoT scores, so equality says something
    assert got.get_column("capability").n_unique() >= 3
    assert got.get_column("cot_score").n_unique() >= 3


def test_distinct_triples_map_back_to_every_row() -> None:
    rng = np.random.default_rng(3)
    prompt, system, tools = (rng.integers(0, n, 1000) for n in (50, 4, 3))
    triples = labels._distinct_triples(prompt, system, tools)
    members = np.column_stack(triples.members)
    assert len(members) == len(np.unique(np.column_stack([prompt, system, tools]), axis=0))
    assert (members[triples.index] == np.column_stack([prompt, system, tools])).all()


def test_distinct_triples_beyond_one_packed_key() -> None:
    big = np.array([2**40, 0, 2**40, 5], dtype=np.int64)
    triples = labels._distinct_triples(big, big, big)  # the product of the counts overflows
    members = np.column_stack(triples.members)
    assert len(members) == 3
    assert (members[triples.index] == np.column_stack([big, big, big])).all()
    empty = labels._distinct_triples(*(np.zeros(0, np.int64),) * 3)
    assert empty.index.shape == (0,)
