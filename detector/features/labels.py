"""Capability label and CoT elicitation score of each request of a batch, from its distinct texts.

The pipeline's batch is reduced to its distinct prompts, system prompts and tool lists
(`detector.features.distinct`). Each distinct prompt is lowercased once, and that lowercased
window feeds both the CoT rules and (its first `RULE_CHARS` characters) the capability rules and
model. What a prompt contributes (the model's log-odds, the rules' miss products, the CoT rules
that fired) is kept in `prompt_labels` under a hash of the prompt and a version of the rules and
model, so a prompt seen in an earlier batch or run is not scored again. Evidence is combined
once per distinct (prompt, system prompt, tools) triple and gathered back to the rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from detector.features.blobs import blob_array, blob_matrix
from detector.features.capability import (
    MODEL_TEMPERATURE,
    PROBABILITY_FLOOR,
    RULE_CHARS,
    RULE_LOGIT_SCALE,
    SYSTEM_PROMPT_FACTOR,
    combine_evidence,
    model_log_odds,
    rule_miss,
    tool_miss,
)
from detector.features.capability_model import (
    CapabilityModel,
    examples_path,
    trained_capability_model,
)
from detector.features.capability_taxonomy import Taxonomy, load_taxonomy
from detector.features.cot import HEAD_CHARS, TAIL_CHARS, lowered_window, noisy_or, rule_hits
from detector.features.cot_rules import CotRule, default_cot_dir, load_cot_rules
from detector.features.distinct import DistinctTexts
from detector.features.tables import PROMPT_LABELS_TABLE


@dataclass(frozen=True)
class PromptEvidence:
    """Per distinct prompt: tempered model log-odds and rule miss products (prompts x capabilities),
    and the CoT rules that fired (prompts x rules)."""

    log_odds: np.ndarray
    miss: np.ndarray
    cot_hits: np.ndarray


def request_labels(
    request_ids: pl.Series,
    prompts: DistinctTexts,
    systems: DistinctTexts,
    tools: DistinctTexts,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pl.DataFrame:
    """Columns request_id, capability, capability_confidence and cot_score, one row per request.

    With `con`, prompt evidence is read from and added to `prompt_labels` (call inside the
    caller's transaction).
    """
    taxonomy = load_taxonomy()
    model = trained_capability_model()
    rules = load_cot_rules()
    if con is None:
        evidence = prompt_evidence(prompts.values, taxonomy, model, rules)
    else:
        evidence = cached_prompt_evidence(con, prompts, taxonomy, model, rules)

    # A label depends only on the (prompt, system prompt, tool list) of a request: evidence is
    # combined once per distinct triple of a batch and gathered back to the rows.
    triples = _distinct_triples(prompts.index, systems.index, tools.index)
    prompt_of, system_of, tools_of = triples.members
    lowered_systems = lowered_window(systems.values)
    fired = evidence.cot_hits[prompt_of] | rule_hits(lowered_systems, rules)[system_of]
    labels, confidence = combine_evidence(
        taxonomy,
        evidence.log_odds[prompt_of],
        evidence.miss[prompt_of]
        * rule_miss(lowered_systems.str.head(RULE_CHARS), taxonomy, SYSTEM_PROMPT_FACTOR)[system_of]
        * tool_miss(tools.values, taxonomy)[tools_of],
    )
    cot_score = np.asarray(noisy_or(fired, rules), dtype=np.float64)
    return pl.DataFrame(
        {
            "request_id": request_ids,
            "capability": labels.gather(triples.index),
            "capability_confidence": confidence[triples.index],
            "cot_score": cot_score[triples.index],
        }
    )


@dataclass(frozen=True)
class _Triples:
    """Distinct (prompt, system prompt, tools) positions of a batch: `members` holds the three
    position arrays of each distinct triple, `index` each row's triple."""

    members: tuple[np.ndarray, np.ndarray, np.ndarray]
    index: np.ndarray


def _distinct_triples(prompt: np.ndarray, system: np.ndarray, tools: np.ndarray) -> _Triples:
    """Distinct triples of positions, packed into one int64 key when the three counts allow
    (always, in practice), else found by a row-wise unique."""
    prompt, system, tools = (np.asarray(a, dtype=np.int64) for a in (prompt, system, tools))
    if len(prompt) == 0:
        empty = np.zeros(0, np.int64)
        return _Triples((empty, empty, empty), empty)
    systems, tool_lists = int(system.max()) + 1, int(tools.max()) + 1
    if (int(prompt.max()) + 1) * systems * tool_lists < 2**62:
        keys = (prompt * systems + system) * tool_lists + tools
        unique, index = np.unique(keys, return_inverse=True)
        members = (
            unique // (systems * tool_lists),
            unique // tool_lists % systems,
            unique % tool_lists,
        )
        return _Triples(members, index.ravel())
    rows, index = np.unique(np.column_stack([prompt, system, tools]), axis=0, return_inverse=True)
    return _Triples((rows[:, 0], rows[:, 1], rows[:, 2]), index.ravel())


def prompt_evidence(
    prompts: pl.Series, taxonomy: Taxonomy, model: CapabilityModel, rules: tuple[CotRule, ...]
) -> PromptEvidence:
    """Model, capability-rule and CoT-rule evidence of each prompt (one lowercasing for all three).

    Log-odds and miss products are rounded to float32, the precision `prompt_labels` keeps, so
    cached and fresh evidence give identical labels.
    """
    lowered = lowered_window(prompts)
    heads = lowered.str.head(RULE_CHARS)
    return PromptEvidence(
        log_odds=model_log_odds(model, heads, taxonomy).astype(np.float32).astype(np.float64),
        miss=rule_miss(heads, taxonomy, 1.0).astype(np.float32).astype(np.float64),
        cot_hits=rule_hits(lowered, rules),
    )


def cached_prompt_evidence(
    con: duckdb.DuckDBPyConnection,
    prompts: DistinctTexts,
    taxonomy: Taxonomy,
    model: CapabilityModel,
    rules: tuple[CotRule, ...],
) -> PromptEvidence:
    """`prompt_evidence` of the distinct prompts, scoring only those `prompt_labels` lacks."""
    con.execute(PROMPT_LABELS_TABLE)
    width = len(taxonomy.names)
    version = labeler_version()
    keys = pl.DataFrame({"prompt_key": pl.Series(prompts.keys, dtype=pl.UInt64)})
    con.register("_dg_prompt_keys", keys)
    try:
        stored = pl.from_arrow(
            con.sql(
                "SELECT l.prompt_key, l.cot_hits, l.evidence FROM prompt_labels l"
                " SEMI JOIN _dg_prompt_keys k ON l.prompt_key = k.prompt_key WHERE l.labeler = ?",
                params=[version],
            ).to_arrow_table()
        )
    finally:
        con.unregister("_dg_prompt_keys")
    assert isinstance(stored, pl.DataFrame)
    stored = stored.unique("prompt_key", keep="first")
    found = keys.with_row_index("position").join(stored, on="prompt_key", how="inner")
    positions = found.get_column("position").to_numpy()
    missing = np.setdiff1d(np.arange(len(prompts.keys)), positions)

    log_odds = np.empty((len(prompts.keys), width))
    miss = np.empty((len(prompts.keys), width))
    hits = np.empty((len(prompts.keys), len(rules)), dtype=bool)
    vectors = blob_matrix(found.get_column("evidence"), 8 * width).view(np.float32)
    log_odds[positions], miss[positions] = vectors[:, :width], vectors[:, width:]
    hits[positions] = _unpack_bits(found.get_column("cot_hits").to_numpy(), len(rules))

    fresh = prompt_evidence(prompts.values.gather(missing), taxonomy, model, rules)
    log_odds[missing], miss[missing], hits[missing] = fresh.log_odds, fresh.miss, fresh.cot_hits
    rows = pa.table(
        {
            "prompt_key": pa.array(prompts.keys[missing], pa.uint64()),
            "cot_hits": pa.array(_pack_bits(fresh.cot_hits), pa.uint64()),
            "evidence": blob_array(
                np.hstack([fresh.log_odds, fresh.miss]).astype(np.float32).view(np.uint8)
            ),
        }
    )
    con.register("_dg_prompt_labels", rows)
    try:
        con.execute(
            "INSERT INTO prompt_labels SELECT prompt_key, ?, cot_hits, evidence FROM _dg_prompt_labels",
            [version],
        )
    finally:
        con.unregister("_dg_prompt_labels")
    return PromptEvidence(log_odds, miss, hits)


@lru_cache(maxsize=1)
def labeler_version() -> int:
    """A 63-bit digest of what prompt evidence depends on: rule files, examples and constants."""
    digest = hashlib.blake2b(digest_size=8)
    files = [load_taxonomy().path, examples_path(), *sorted(default_cot_dir().glob("*.yaml"))]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    model = CapabilityModel()
    constants = (
        RULE_CHARS, HEAD_CHARS, TAIL_CHARS, MODEL_TEMPERATURE, PROBABILITY_FLOOR, RULE_LOGIT_SCALE,
        model.n_features, model.max_chars, model.alpha, model.epochs, model.random_state,
    )
    digest.update(repr(constants).encode())
    return int.from_bytes(digest.digest(), "big") >> 1


def _pack_bits(hits: np.ndarray) -> np.ndarray:
    if hits.shape[1] > 64:
        raise ValueError("at most 64 CoT rules fit the cot_hits bit mask")
    weights = np.left_shift(np.uint64(1), np.arange(hits.shape[1], dtype=np.uint64))
    return (hits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def _unpack_bits(bits: np.ndarray, count: int) -> np.ndarray:
    shifts = np.arange(count, dtype=np.uint64)
    return ((bits.astype(np.uint64)[:, np.newaxis] >> shifts) & np.uint64(1)).astype(bool)
